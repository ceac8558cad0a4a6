package web

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/stipend/stipend/service"
)

// CodeCrossOrigin is the code of a state-changing approval request that did
// not come from the approval page itself (another site's form or script).
const CodeCrossOrigin service.Code = "cross_origin"

// checkApprovalPost lets a state-changing approval request (sign, reject)
// through only as the page sends it: a JSON body (Content-Type:
// application/json, which no cross-site form can send without a CORS
// preflight this server never answers) from the page's own origin. Browsers
// say where a request comes from in Sec-Fetch-Site and Origin; when they are
// present they must say "this site". A client that is not a browser (the CLI,
// a script) sends neither and is judged by the body alone.
func (h *Handler) checkApprovalPost(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return service.Errorf(service.CodeInvalidArgument, "Content-Type", "send a JSON body with Content-Type: application/json")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return service.Errorf(CodeCrossOrigin, "Sec-Fetch-Site", "approval requests are accepted only from the approval page itself (Sec-Fetch-Site: %s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" && !h.ownOrigin(r, o) {
		return service.Errorf(CodeCrossOrigin, "Origin", "approval requests are accepted only from the approval page itself, not from another origin")
	}
	return nil
}

// ownOrigin reports whether origin is the approval pages' own: that of the
// configured public URL, or of the Host the request was sent to.
func (h *Handler) ownOrigin(r *http.Request, origin string) bool {
	if origin == "null" {
		return false
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	if pu, err := url.Parse(h.svc.Config().PublicURL); err == nil && pu.Host != "" &&
		strings.EqualFold(pu.Scheme, o.Scheme) && strings.EqualFold(pu.Host, o.Host) {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(o.Scheme, scheme) && strings.EqualFold(o.Host, r.Host)
}

// nosniff marks a response's Content-Type as final (no MIME sniffing).
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
