package web

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/stipend/stipend/service"
)

// wantsJSON reports whether a GET asks for the JSON view rather than the page.
func wantsJSON(r *http.Request) bool {
	if r.URL.Query().Get("format") == "json" {
		return true
	}
	accept := strings.ToLower(r.Header.Get("Accept"))
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// getApproval answers GET /approve/{token}: the approval's JSON view
// (Accept: application/json), else the HTML page.
func (h *Handler) getApproval(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	w.Header().Set("Referrer-Policy", "no-referrer")
	v, err := h.svc.Approval(r.Context(), token)
	if wantsJSON(r) {
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	if err != nil {
		h.errorPage(w, r, err)
		return
	}
	if err := RenderPage(w, v); err != nil {
		h.log.Error("render approval page", "err", err)
	}
}

// postApproval answers POST /approve/{token} with the owner's signed
// transaction ({"signed_transaction"}) or message signature ({"signature"}).
func (h *Handler) postApproval(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := h.checkApprovalPost(r); err != nil {
		h.metrics.approvals.WithLabelValues("unknown", string(codeOrInternal(err))).Inc()
		h.fail(w, r, err)
		return
	}
	var sub service.Submission
	if err := decodeJSON(r, &sub); err != nil {
		h.metrics.approvals.WithLabelValues("unknown", string(codeOrInternal(err))).Inc()
		h.fail(w, r, err)
		return
	}
	if sub.SignedTransaction == "" && sub.Signature == "" {
		err := service.Errorf(service.CodeInvalidArgument, "signed_transaction", "send signed_transaction (a signed base64 transaction) or signature (a base58 message signature)")
		h.metrics.approvals.WithLabelValues("unknown", string(service.CodeInvalidArgument)).Inc()
		h.fail(w, r, err)
		return
	}
	res, err := h.svc.SubmitApproval(r.Context(), token, sub)
	if err != nil {
		h.metrics.approvals.WithLabelValues("unknown", string(codeOrInternal(err))).Inc()
		h.fail(w, r, err)
		return
	}
	h.metrics.approvals.WithLabelValues(res.Kind, res.Status).Inc()
	h.log.Info("approval carried out", "kind", res.Kind, "status", res.Status)
	writeJSON(w, http.StatusOK, res)
}

// rejectBody is the body of POST /approve/{token}/reject: a JSON object,
// with an optional reason.
type rejectBody struct {
	Reason string `json:"reason"`
}

// rejectApproval answers POST /approve/{token}/reject: the owner declines
// from the page (a JSON body, same origin); a payment the link held is
// released. A link past its life answers 410.
func (h *Handler) rejectApproval(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := h.checkApprovalPost(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var b rejectBody
	if err := decodeJSON(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(b.Reason) > 500 {
		h.fail(w, r, service.Errorf(service.CodeInvalidArgument, "reason", "reason is longer than 500 characters"))
		return
	}
	if b.Reason == "" {
		b.Reason = "rejected by the owner"
	}
	if err := h.svc.RejectApproval(r.Context(), token, b.Reason); err != nil {
		h.fail(w, r, err)
		return
	}
	h.metrics.approvals.WithLabelValues("unknown", "rejected").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"status": "cancelled"})
}

func isEmptyBody(err error) bool {
	var pe *service.Error
	return errors.As(err, &pe) && pe.Param == "body" && strings.Contains(pe.Message, "empty")
}

func codeOrInternal(err error) service.Code {
	if c := service.CodeOf(err); c != "" {
		return c
	}
	return "internal"
}

var errorPageTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · stipend</title><link rel="stylesheet" href="/approve/static/approve.css"></head>
<body><main class="card"><h1>{{.Title}}</h1><p>{{.Text}}</p><p class="muted">Code: {{.Code}}</p></main></body></html>
`))

// errorPage answers a browser whose approval link does not work.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	var pe *service.Error
	if !errors.As(err, &pe) {
		h.log.Error("approval page", "path", redactPath(r.URL.Path), "err", err)
		pe = &service.Error{Code: "internal", Message: "internal error"}
	}
	status := StatusOf(pe.Code)
	title, text := "This link does not work", pe.Message
	switch pe.Code {
	case service.CodeNotFound:
		title, text = "Approval link not found", "This link is unknown or was mistyped. Nothing was signed and nothing changed. Ask the agent for a new link."
	case service.CodeExpired:
		title, text = "This link has expired", "Nothing was signed and nothing changed. Ask the agent for a new link."
	case service.CodeUnavailable:
		title, text = "The Solana network is not reachable", "Nothing was signed and nothing changed. Try again in a moment."
	case "internal":
		text = "Something went wrong on the server. Nothing was signed and nothing changed. Try again in a moment."
	}
	hd := w.Header()
	setPageSecurityHeaders(hd)
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status is sent: a page that fails to render now has no one to tell.
	_ = errorPageTemplate.Execute(w, map[string]string{"Title": title, "Text": text, "Code": string(pe.Code)})
}
