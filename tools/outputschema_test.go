package tools_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stipend/stipend/tools"
)

var (
	outputSchemasOnce sync.Once
	outputSchemas     map[string]*jsonschema.Schema
	outputSchemasErr  error
)

// outputSchema is the compiled output schema of a tool, as tools/list declares it.
func outputSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	outputSchemasOnce.Do(func() {
		outputSchemas = map[string]*jsonschema.Schema{}
		c := jsonschema.NewCompiler()
		for _, tl := range tools.Tools(nil) {
			if len(tl.Def.RawOutputSchema) == 0 {
				continue
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(tl.Def.RawOutputSchema))
			if err != nil {
				outputSchemasErr = err
				return
			}
			url := "mem:///" + tl.Def.Name + ".json"
			if err := c.AddResource(url, doc); err != nil {
				outputSchemasErr = err
				return
			}
			s, err := c.Compile(url)
			if err != nil {
				outputSchemasErr = err
				return
			}
			outputSchemas[tl.Def.Name] = s
		}
	})
	if outputSchemasErr != nil {
		t.Fatalf("output schemas: %v", outputSchemasErr)
	}
	s := outputSchemas[name]
	if s == nil {
		t.Fatalf("tool %s declares no outputSchema", name)
	}
	return s
}

// checkOutput validates a tool result against its tool's output schema, and
// checks the text blocks: the sentence first, then the same JSON.
func checkOutput(t *testing.T, name string, res *mcp.CallToolResult) {
	t.Helper()
	if res.StructuredContent == nil {
		t.Errorf("%s: no structuredContent", name)
		return
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := outputSchema(t, name).Validate(v); err != nil {
		t.Errorf("%s: structuredContent does not match the output schema: %v\n%s", name, err, b)
	}
	if len(res.Content) != 2 {
		t.Errorf("%s: want 2 content blocks (sentence, JSON), got %d", name, len(res.Content))
		return
	}
	js, ok := res.Content[1].(mcp.TextContent)
	if !ok || !json.Valid([]byte(js.Text)) {
		t.Errorf("%s: the second block is not the JSON: %v", name, res.Content[1])
	}
	var a, c any
	_ = json.Unmarshal(b, &a)
	_ = json.Unmarshal([]byte(js.Text), &c)
	ab, _ := json.Marshal(a)
	cb, _ := json.Marshal(c)
	if !bytes.Equal(ab, cb) {
		t.Errorf("%s: the JSON block differs from structuredContent", name)
	}
}

// TestOutputSchemasDeclared: every tool declares an output schema of type object.
func TestOutputSchemasDeclared(t *testing.T) {
	for _, tl := range tools.Tools(nil) {
		var s map[string]any
		if err := json.Unmarshal(tl.Def.RawOutputSchema, &s); err != nil || s["type"] != "object" {
			t.Errorf("%s: outputSchema %s (%v)", tl.Def.Name, tl.Def.RawOutputSchema, err)
		}
		outputSchema(t, tl.Def.Name)
	}
}
