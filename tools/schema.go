package tools

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/invopop/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/policy"
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
			{Type: "string", Pattern: policy.AmountPattern},
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
	var pe *policy.Error
	if !errors.As(err, &pe) {
		pe = &policy.Error{Code: policy.CodeInvalidArgument, Message: err.Error()}
	}
	body := map[string]any{"error": map[string]any{"code": pe.Code, "message": pe.Message, "param": pe.Param}}
	if details != nil {
		body["details"] = details
	}
	res := mcp.NewToolResultStructured(body, fmt.Sprintf("%s: %s", pe.Code, pe.Message))
	res.IsError = true
	return res
}

// bind decodes a tool's arguments into its struct; a wrong type is an
// invalid_argument naming the field.
func bind(req mcp.CallToolRequest, v any) error {
	if err := req.BindArguments(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return policy.Errorf(policy.CodeInvalidArgument, te.Field, "%s must be a %s, not a %s", te.Field, te.Type.String(), te.Value)
		}
		return policy.Errorf(policy.CodeInvalidArgument, "arguments", "arguments are not valid: %v", err)
	}
	return nil
}

func required(name, value string) error {
	if value == "" {
		return policy.Errorf(policy.CodeInvalidArgument, name, "%s is required", name)
	}
	return nil
}
