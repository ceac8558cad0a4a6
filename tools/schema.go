package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	orderedmap "github.com/pb33f/ordered-map/v2"

	"github.com/stipend/stipend/service"
)

// Amount is a token amount as the caller gave it: a JSON string ("12.50") or
// a JSON number (12.5). It is parsed into base units without a float.
type Amount json.RawMessage

// UnmarshalJSON keeps the raw JSON.
func (a *Amount) UnmarshalJSON(b []byte) error {
	*a = append((*a)[:0], b...)
	return nil
}

// MarshalJSON writes the raw JSON back.
func (a Amount) MarshalJSON() ([]byte, error) {
	if len(a) == 0 {
		return []byte("null"), nil
	}
	return a, nil
}

// JSONSchema describes an amount for the model.
func (Amount) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		OneOf: []*jsonschema.Schema{
			{Type: "string", Pattern: service.AmountPattern},
			{Type: "number", ExclusiveMinimum: json.Number("0")},
		},
	}
}

// schemaOf reflects a tool's argument struct into its input schema.
func schemaOf(v any) json.RawMessage {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, Anonymous: true}
	s := r.Reflect(v)
	s.Version = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("tools: schema of %T: %v", v, err))
	}
	return b
}

// toolError is a refusal or bad input, as a tool result the model can act on:
// isError, a text with the code and reason, and the details as structured content.
func toolError(err error, details any) *mcp.CallToolResult {
	var pe *service.Error
	if !errors.As(err, &pe) {
		pe = &service.Error{Code: service.CodeInvalidArgument, Message: err.Error()}
	}
	body := map[string]any{"error": map[string]any{"code": pe.Code, "message": pe.Message, "param": pe.Param}}
	if details != nil {
		body["details"] = details
	}
	return structured(body, fmt.Sprintf("%s: %s", pe.Code, pe.Message), true)
}

// bind decodes a tool's arguments into its struct; a wrong type is an
// invalid_argument naming the field.
func bind(req mcp.CallToolRequest, v any) error {
	if err := req.BindArguments(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return service.Errorf(service.CodeInvalidArgument, te.Field, "%s must be a %s, not a %s", te.Field, te.Type.String(), te.Value)
		}
		return service.Errorf(service.CodeInvalidArgument, "arguments", "arguments are not valid: %v", err)
	}
	return nil
}

func required(name, value string) error {
	if value == "" {
		return service.Errorf(service.CodeInvalidArgument, name, "%s is required", name)
	}
	return nil
}

// errorSchema is the shape of a refusal's structured content: the coded
// error and, for some tools, the details of the decision.
var errorSchema = &jsonschema.Schema{
	Type: "object",
	Properties: func() *orderedmap.OrderedMap[string, *jsonschema.Schema] {
		e := jsonschema.NewProperties()
		e.Set("code", &jsonschema.Schema{Type: "string"})
		e.Set("message", &jsonschema.Schema{Type: "string"})
		e.Set("param", &jsonschema.Schema{Type: "string"})
		p := jsonschema.NewProperties()
		p.Set("error", &jsonschema.Schema{Type: "object", Properties: e, Required: []string{"code", "message"}})
		p.Set("details", &jsonschema.Schema{Type: "object"})
		return p
	}(),
	Required: []string{"error"},
}

// outputSchemaOf reflects a tool's output schema from the Go type of its
// result (the same type its structuredContent is marshalled from): either
// that result, or a refusal (isError) carrying the coded error.
func outputSchemaOf[R any]() json.RawMessage {
	t := reflect.TypeFor[R]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true, Anonymous: true}
	s := r.ReflectFromType(t)
	s.Version = ""
	loosen(t, s)
	out := &jsonschema.Schema{Type: "object", AnyOf: []*jsonschema.Schema{s, errorSchema}}
	b, err := json.Marshal(out)
	if err != nil {
		panic(fmt.Sprintf("tools: output schema of %v: %v", t, err))
	}
	return b
}

// isNil reports whether a tool's result is absent (a nil pointer).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// structured is a tool result: the one sentence first, then the structured
// content serialized as JSON in a second text block (as the spec asks of
// tools that return structured content).
func structured(out any, sentence string, isError bool) *mcp.CallToolResult {
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte("{}")
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(sentence), mcp.NewTextContent(string(b))},
		StructuredContent: out,
		IsError:           isError,
	}
}

// loosen makes a reflected schema say what encoding/json really writes for
// type t: a nil pointer field without omitempty is null, and the fields of
// an embedded struct pointer are absent when it is nil (so not required).
func loosen(t reflect.Type, s *jsonschema.Schema) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil {
		return
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		loosen(t.Elem(), s.Items)
		return
	case reflect.Struct:
	default:
		return
	}
	if s.Properties == nil {
		return
	}
	var optional []string
	var walk func(t reflect.Type, viaPointer bool)
	walk = func(t reflect.Type, viaPointer bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				ptr := ft.Kind() == reflect.Pointer
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, viaPointer || ptr)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			if viaPointer {
				optional = append(optional, name)
			}
			p, ok := s.Properties.Get(name)
			if !ok {
				continue
			}
			loosen(f.Type, p)
			if f.Type.Kind() == reflect.Pointer && !strings.Contains(opts, "omitempty") {
				cp := *p
				*p = jsonschema.Schema{AnyOf: []*jsonschema.Schema{&cp, {Type: "null"}}, Description: cp.Description}
				cp.Description = ""
			}
		}
	}
	walk(t, false)
	if len(optional) > 0 {
		req := s.Required[:0]
		for _, r := range s.Required {
			if !slices.Contains(optional, r) {
				req = append(req, r)
			}
		}
		s.Required = req
	}
}
