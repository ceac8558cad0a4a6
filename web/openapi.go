package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"

	"github.com/stipend/stipend/service"
)

// apiOp is one admin operation as the OpenAPI document describes it: its
// request body and its answers are the Go types the handlers decode and
// encode, reflected with invopop/jsonschema.
type apiOp struct {
	Method, Path, ID, Summary string
	Request                   any         // the body's type; nil: no body
	Responses                 map[int]any // status → the answer's type
	Query                     []string    // query parameters
}

// ErrorBody is the answer of a failed admin call.
type ErrorBody struct {
	Error service.Error `json:"error"`
}

// RefusalBody is the answer of a refused payment: the code and the whole result.
type RefusalBody struct {
	Error   service.Error      `json:"error"`
	Payment *service.PayResult `json:"payment"`
}

// WebhookStatus is the answer of a webhook test or retry.
type WebhookStatus struct {
	Status   string `json:"status"`
	Endpoint string `json:"endpoint,omitempty"`
	ID       string `json:"id,omitempty"`
}

// DeadLetterList is the answer of GET /admin/webhooks/dead.
type DeadLetterList struct {
	Total       int          `json:"total"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// apiOps are the admin API's operations, in the order of adminRoutes.
var apiOps = []apiOp{
	{"POST", "/admin/session-keys", "session_keys.create", "Create a session key (pending_approval) and its funding approval link", CreateKeyRequest{}, map[int]any{201: service.KeyCreated{}}, nil},
	{"GET", "/admin/session-keys", "session_keys.list", "List session keys", nil, map[int]any{200: KeyList{}}, []string{"agent_id"}},
	{"GET", "/admin/session-keys/{id}", "session_keys.status", "A session key's status", nil, map[int]any{200: service.KeyView{}}, nil},
	{"POST", "/admin/session-keys/{id}/top-up", "session_keys.top_up", "Request a top-up: an approval link for the owner", AmountRequest{}, map[int]any{200: service.TopUpCreated{}}, nil},
	{"POST", "/admin/session-keys/{id}/revoke", "session_keys.revoke", "Revoke a key and sweep its tokens back", RevokeRequest{}, map[int]any{200: service.Revoked{}}, nil},
	{"POST", "/admin/session-keys/{id}/can-afford", "session_keys.can_afford", "Check a payment without making it", CanAffordRequest{}, map[int]any{200: service.DecisionView{}}, nil},
	{"POST", "/admin/session-keys/{id}/link", "session_keys.link", "Link a key to a session", LinkRequest{}, map[int]any{200: service.KeyView{}}, nil},
	{"POST", "/admin/session-keys/{id}/unlink", "session_keys.unlink", "Unlink: an approval link for the owner (202), or at once with force (200, audited as forced)", UnlinkRequest{}, map[int]any{200: service.KeyView{}, 202: service.ApprovalLink{}}, nil},
	{"POST", "/admin/sessions", "sessions.create", "Create a session with limits", CreateSessionRequest{}, map[int]any{201: SessionCreated{}}, nil},
	{"GET", "/admin/sessions/{id}", "sessions.show", "A session", nil, map[int]any{200: service.SessionView{}}, nil},
	{"POST", "/admin/sessions/{id}/limits", "sessions.limits", "New limits: an approval link for the owner (202), or at once with force (200, audited as forced)", SetLimitsRequest{}, map[int]any{200: service.SessionView{}, 202: service.ApprovalLink{}}, nil},
	{"POST", "/admin/payments", "payments.pay", "Pay from a session key (or a session, with the owner's approval)", PayRequest{}, map[int]any{200: service.PayResult{}, 422: RefusalBody{}}, nil},
	{"GET", "/admin/audit", "audit.show", "A wallet's audit log", nil, map[int]any{200: AuditLog{}}, []string{"wallet", "session_key_id"}},
	{"GET", "/admin/audit/verify", "audit.verify", "Verify audit chains", nil, map[int]any{200: AuditVerification{}}, []string{"wallet", "session_key_id"}},
	{"POST", "/admin/webhooks/{endpoint}/test", "webhooks.test", "Send a test event", nil, map[int]any{200: WebhookStatus{}}, nil},
	{"GET", "/admin/webhooks/dead", "webhooks.dead", "Dead letters", nil, map[int]any{200: DeadLetterList{}}, []string{"limit"}},
	{"POST", "/admin/webhooks/dead/{id}/retry", "webhooks.retry", "Retry a dead letter", nil, map[int]any{200: WebhookStatus{}}, nil},
}

// amountSchema is an amount as the API takes it: a decimal string or a number.
func amountSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string", Pattern: `^[0-9]+(\.[0-9]+)?$`},
		{Type: "number"},
	}}
}

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

// reflectSchema reflects a Go type into an inline JSON Schema (2020-12, as
// OpenAPI 3.1 uses); json.RawMessage fields are amounts.
func reflectSchema(v any) *jsonschema.Schema {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, AllowAdditionalProperties: true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == rawMessage {
				return amountSchema()
			}
			return nil
		}}
	s := r.Reflect(v)
	s.Version = ""
	relax(s, reflect.TypeOf(v))
	return s
}

// relax makes the schema say what encoding/json writes where invopop's
// defaults are stricter: a pointer field without omitempty may be null, and
// the fields of an embedded pointer struct are absent when it is nil.
func relax(s *jsonschema.Schema, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil {
		return
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() != reflect.Uint8 {
			relax(s.Items, t.Elem())
		}
		return
	case reflect.Struct:
	default:
		return
	}
	if s.Properties == nil {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			if f.Type.Kind() == reflect.Pointer {
				for _, n := range jsonNames(f.Type.Elem()) {
					s.Required = slicesDelete(s.Required, n)
				}
			}
			relax(s, f.Type)
			continue
		}
		if name == "" {
			name = f.Name
		}
		p, ok := s.Properties.Get(name)
		if !ok {
			continue
		}
		relax(p, f.Type)
		if f.Type.Kind() == reflect.Pointer && !strings.Contains(opts, "omitempty") && f.Type.Elem().Kind() != reflect.Struct {
			cp := *p
			*p = jsonschema.Schema{AnyOf: []*jsonschema.Schema{&cp, {Type: "null"}}, Description: cp.Description}
			cp.Description = ""
		}
	}
}

// jsonNames are the JSON names of a struct's fields (with its embedded ones).
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Anonymous && name == "":
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			out = append(out, jsonNames(et)...)
		case name == "":
			out = append(out, f.Name)
		default:
			out = append(out, name)
		}
	}
	return out
}

func slicesDelete(xs []string, x string) []string {
	out := xs[:0]
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// OpenAPI returns the admin API's OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	openAPIOnce.Do(func() { openAPIDoc = buildOpenAPI() })
	return openAPIDoc
}

var (
	openAPIOnce sync.Once
	openAPIDoc  map[string]any
)

func buildOpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": reflectSchema(ErrorBody{})}}}
	for _, op := range apiOps {
		o := map[string]any{"operationId": op.ID, "summary": op.Summary, "security": []map[string][]string{{"admin": {}}}}
		var params []map[string]any
		for _, seg := range strings.Split(op.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		for _, q := range op.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]string{"type": "string"}})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Request != nil {
			o["requestBody"] = map[string]any{"required": op.Method == "POST" && op.ID != "session_keys.revoke" && op.ID != "session_keys.unlink",
				"content": map[string]any{"application/json": map[string]any{"schema": reflectSchema(op.Request)}}}
		}
		resps := map[string]any{"default": errResp}
		for status, typ := range op.Responses {
			resps[itoa(status)] = map[string]any{"description": http.StatusText(status),
				"content": map[string]any{"application/json": map[string]any{"schema": reflectSchema(typ)}}}
		}
		o["responses"] = resps
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "stipend admin API", "version": "1",
			"description": "The operator's API of stipend (Authorization: Bearer <admin token>). Amounts are decimal strings or numbers of the token; times are RFC 3339."},
		"paths":      paths,
		"components": map[string]any{"securitySchemes": map[string]any{"admin": map[string]string{"type": "http", "scheme": "bearer"}}},
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (h *Handler) adminOpenAPI(r *http.Request) (int, any, error) {
	return http.StatusOK, OpenAPI(), nil
}
