package ccr

import (
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestGeminiSchemaOpenAPIRules covers each rule of protocol.md §4.2.4.
func TestGeminiSchemaOpenAPIRules(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means no parameters; "FALLBACK" means parametersJsonSchema
	}{
		{"rule1 ref with description", `{"type":"object","properties":{"a":{"$ref":"#/definitions/A","description":"outer"}},"definitions":{"A":{"type":"string","description":"inner"}}}`,
			`{"type":"object","properties":{"a":{"type":"string","description":"outer"}}}`},
		{"rule1 ref to nested pointer", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"$ref":"#/properties/a"}}}`,
			`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}`},
		{"rule1 escaped pointer", `{"type":"object","properties":{"a":{"$ref":"#/$defs/x~1y"}},"$defs":{"x/y":{"type":"boolean"}}}`,
			`{"type":"object","properties":{"a":{"type":"boolean"}}}`},
		{"rule1 recursive", `{"type":"object","properties":{"n":{"$ref":"#/$defs/N"}},"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}}}`, "FALLBACK"},
		{"rule1 root recursion", `{"type":"object","properties":{"self":{"$ref":"#"}}}`, "FALLBACK"},
		{"rule1 undefined ref", `{"type":"object","properties":{"a":{"$ref":"#/$defs/Missing"}}}`, "FALLBACK"},
		{"rule2 nullable", `{"type":"object","properties":{"a":{"type":["null","integer"]}}}`,
			`{"type":"object","properties":{"a":{"nullable":true,"type":"integer"}}}`},
		{"rule2 only null", `{"type":"object","properties":{"a":{"type":["null"]}}}`,
			`{"type":"object","properties":{"a":{"nullable":true,"type":"null"}}}`},
		{"rule2 multi type", `{"type":"object","properties":{"a":{"type":["string","array","null"],"items":{"type":"string"},"maxLength":3,"description":"d"}}}`,
			`{"type":"object","properties":{"a":{"description":"d","nullable":true,"anyOf":[{"type":"string","maxLength":3},{"type":"array","items":{"type":"string"}}]}}}`},
		{"rule2 anyOf null single", `{"type":"object","properties":{"a":{"anyOf":[{"type":"string","minLength":1},{"type":"null"}],"description":"d","default":null}}}`,
			`{"type":"object","properties":{"a":{"type":"string","minLength":1,"description":"d","nullable":true}}}`},
		{"rule2 oneOf to anyOf", `{"type":"object","properties":{"a":{"oneOf":[{"type":"string"},{"type":"integer","exclusiveMaximum":10}]}}}`,
			`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"integer","maximum":9}]}}}`},
		{"rule2 allOf single", `{"type":"object","properties":{"a":{"allOf":[{"$ref":"#/$defs/E"}],"description":"d"}},"$defs":{"E":{"type":"string","enum":["x","y"]}}}`,
			`{"type":"object","properties":{"a":{"type":"string","enum":["x","y"],"description":"d"}}}`},
		{"rule2 allOf merge", `{"type":"object","properties":{"a":{"allOf":[{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]},{"properties":{"y":{"type":"number"}},"required":["y"]}]}}}`,
			`{"type":"object","properties":{"a":{"properties":{"x":{"type":"string"},"y":{"type":"number"}},"type":"object","required":["x","y"]}}}`},
		{"rule3 const string", `{"type":"object","properties":{"a":{"const":"fast"}}}`,
			`{"type":"object","properties":{"a":{"enum":["fast"],"type":"string"}}}`},
		{"rule3 const other", `{"type":"object","properties":{"a":{"type":"integer","const":3}}}`,
			`{"type":"object","properties":{"a":{"type":"integer"}}}`},
		{"rule4 enum non-string", `{"type":"object","properties":{"a":{"type":"string","enum":["a",null]},"b":{"enum":["x","y"]}}}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"enum":["x","y"],"type":"string"}}}`},
		{"rule5 exclusive", `{"type":"object","properties":{"i":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10},"n":{"type":"number","exclusiveMinimum":0.5},"s":{"type":"integer","minimum":5,"exclusiveMinimum":2},"w":{"type":"integer","exclusiveMinimum":2,"minimum":1},"d4":{"type":"integer","minimum":3,"exclusiveMinimum":true},"f":{"type":"integer","exclusiveMinimum":false}}}`,
			`{"type":"object","properties":{"i":{"type":"integer","minimum":1,"maximum":9},"n":{"type":"number","minimum":0.5},"s":{"type":"integer","minimum":5},"w":{"type":"integer","minimum":3},"d4":{"type":"integer","minimum":4},"f":{"type":"integer"}}}`},
		{"rule6 format", `{"type":"object","properties":{"a":{"type":"string","format":"date-time"},"b":{"type":"string","format":"email"},"c":{"type":"integer","format":"int64"},"d":{"type":"integer","format":"float"},"e":{"type":"number","format":"double"}}}`,
			`{"type":"object","properties":{"a":{"type":"string","format":"date-time"},"b":{"type":"string"},"c":{"type":"integer","format":"int64"},"d":{"type":"integer"},"e":{"type":"number","format":"double"}}}`},
		{"rule7 keywords vs property names", `{"$schema":"x","$id":"y","title":"T","type":"object","additionalProperties":false,"properties":{"default":{"type":"string","default":"d","title":"t","examples":["a"],"example":"e"},"properties":{"type":"string"},"type":{"type":"string","propertyNames":{"pattern":"x"},"uniqueItems":true,"multipleOf":2,"$comment":"c"}},"patternProperties":{"x":{}},"minProperties":1}`,
			`{"type":"object","properties":{"default":{"type":"string","example":"e"},"properties":{"type":"string"},"type":{"type":"string"}},"minProperties":1}`},
		{"rule8 required", `{"type":"object","properties":{"a":{"type":"string"}},"required":["ghost","a","a"]}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`},
		{"rule8 required emptied", `{"type":"object","properties":{"a":{"type":"string"}},"required":["ghost"]}`,
			`{"type":"object","properties":{"a":{"type":"string"}}}`},
		{"rule9 root without properties", `{"type":"object","additionalProperties":{"type":"string"}}`, ""},
		{"rule9 empty schema", `{}`, ""},
		{"rule9 nested map", `{"type":"object","properties":{"env":{"type":"object","additionalProperties":{"type":"string"}}}}`, "FALLBACK"},
		{"untyped property", `{"type":"object","properties":{"v":{"description":"any value"}}}`, "FALLBACK"},
		{"boolean schema property", `{"type":"object","properties":{"v":true}}`, "FALLBACK"},
		{"array without items", `{"type":"object","properties":{"v":{"type":"array"}}}`, "FALLBACK"},
		{"tuple items", `{"type":"object","properties":{"v":{"type":"array","items":[{"type":"string"}]}}}`, "FALLBACK"},
		{"inferred types", `{"properties":{"o":{"properties":{"x":{"type":"string"}}},"a":{"items":{"type":"string"}}}}`,
			`{"properties":{"o":{"properties":{"x":{"type":"string"}},"type":"object"},"a":{"items":{"type":"string"},"type":"array"}},"type":"object"}`},
		{"numbers kept verbatim", `{"type":"object","properties":{"n":{"type":"number","minimum":1e2,"maximum":12345678901234567890}}}`,
			`{"type":"object","properties":{"n":{"type":"number","minimum":1e2,"maximum":12345678901234567890}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := geminiSchemaOpenAPI(json.RawMessage(tt.in))
			switch {
			case tt.want == "FALLBACK":
				if !errors.Is(err, errGeminiSchemaFallback) {
					t.Fatalf("geminiSchemaOpenAPI = %s, %v; want fallback", got, err)
				}
				return
			case err != nil:
				t.Fatalf("geminiSchemaOpenAPI: %v", err)
			case tt.want == "":
				if got != nil {
					t.Fatalf("geminiSchemaOpenAPI = %s; want no parameters", got)
				}
				return
			}
			if string(got) != compactJSON(t, []byte(tt.want)) {
				t.Errorf("geminiSchemaOpenAPI(%s)\n got %s\nwant %s", tt.in, got, compactJSON(t, []byte(tt.want)))
			}
			checkOpenAPISchema(t, "parameters", mustParse(t, got), true)
		})
	}
}

func TestGeminiSchemaJSONMode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"inline and strip", `{"$schema":"s","type":"object","properties":{"a":{"$ref":"#/$defs/A","description":"outer"},"b":{"type":"string","const":"x"}},"$defs":{"A":{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false}}}`,
			`{"type":"object","properties":{"a":{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false,"description":"outer"},"b":{"type":"string","const":"x"}}}`},
		{"recursive ref kept bare with its definition", `{"type":"object","properties":{"root":{"$ref":"#/$defs/Node","description":"d"}},"$defs":{"Node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/Node","description":"child"}},"meta":{"$ref":"#/$defs/Meta"}}},"Meta":{"type":"string"},"Unused":{"type":"number"}}}`,
			`{"type":"object","properties":{"root":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}},"meta":{"type":"string"}},"description":"d"}},"$defs":{"Node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}},"meta":{"type":"string"}}}}}`},
		{"map kept", `{"type":"object","properties":{"env":{"type":"object","additionalProperties":{"type":"string"}}}}`,
			`{"type":"object","properties":{"env":{"type":"object","additionalProperties":{"type":"string"}}}}`},
		{"no properties", `{"type":"object","properties":{}}`, ""},
		{"property named $ref", `{"type":"object","properties":{"$ref":{"type":"string"}}}`, `{"type":"object","properties":{"$ref":{"type":"string"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := geminiSchemaJSON(json.RawMessage(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.want != "" {
				want = compactJSON(t, []byte(tt.want))
			}
			if string(got) != want {
				t.Errorf("geminiSchemaJSON(%s)\n got %s\nwant %s", tt.in, got, want)
			}
		})
	}
}

func mustParse(t *testing.T, b []byte) *gjNode {
	t.Helper()
	n, err := gjParse(b)
	if err != nil {
		t.Fatalf("parse %s: %v", b, err)
	}
	return n
}

// checkOpenAPISchema asserts that s uses only what Gemini's OpenAPI Schema
// accepts (protocol.md §3.3).
func checkOpenAPISchema(t *testing.T, path string, s *gjNode, root bool) {
	t.Helper()
	if s.kind != 'o' {
		t.Errorf("%s: schema is not an object", path)
		return
	}
	for _, k := range s.keys {
		if !geminiAllowedKey(k) {
			t.Errorf("%s: keyword %q not accepted by Gemini", path, k)
		}
	}
	typ := s.get("type")
	anyOf := s.get("anyOf")
	if typ == nil && anyOf == nil {
		t.Errorf("%s: neither type nor anyOf", path)
	}
	if typ != nil {
		if typ.kind != 's' {
			t.Errorf("%s: type is not a single string", path)
		} else {
			switch typ.str {
			case "string", "number", "integer", "boolean", "array", "object", "null":
			default:
				t.Errorf("%s: unknown type %q", path, typ.str)
			}
		}
	}
	if e := s.get("enum"); e != nil {
		for _, it := range e.items {
			if it.kind != 's' {
				t.Errorf("%s: non-string enum value", path)
			}
		}
	}
	if f := s.get("format"); f != nil {
		ok := map[string]bool{"string/date-time": true, "string/enum": true, "integer/int32": true, "integer/int64": true, "number/float": true, "number/double": true}
		if !ok[s.typeName()+"/"+f.str] {
			t.Errorf("%s: format %q on %s", path, f.str, s.typeName())
		}
	}
	props := s.get("properties")
	if s.typeName() == "object" && !root && len(props.keysOrNil()) == 0 {
		t.Errorf("%s: OBJECT without properties", path)
	}
	if s.typeName() == "array" {
		if it := s.get("items"); it == nil {
			t.Errorf("%s: ARRAY without items", path)
		}
	}
	if r := s.get("required"); r != nil {
		if len(r.items) == 0 {
			t.Errorf("%s: empty required", path)
		}
		for _, it := range r.items {
			if props.get(it.str) == nil {
				t.Errorf("%s: required %q is not a property", path, it.str)
			}
		}
	}
	for i, name := range props.keysOrNil() {
		checkOpenAPISchema(t, path+".properties."+name, props.vals[i], false)
	}
	if it := s.get("items"); it != nil {
		checkOpenAPISchema(t, path+".items", it, false)
	}
	if anyOf != nil {
		for i, br := range anyOf.items {
			checkOpenAPISchema(t, path+".anyOf["+string(rune('0'+i))+"]", br, false)
		}
	}
}

// checkJSONSchemaForGemini asserts what parametersJsonSchema needs: no
// $schema, no $ref with siblings, every $ref resolvable.
func checkJSONSchemaForGemini(t *testing.T, path string, root, n *gjNode) {
	t.Helper()
	switch n.kind {
	case 'a':
		for _, it := range n.items {
			checkJSONSchemaForGemini(t, path+"[]", root, it)
		}
	case 'o':
		if n.get("$schema") != nil {
			t.Errorf("%s: $schema present", path)
		}
		if ref := n.get("$ref"); ref != nil && ref.kind == 's' {
			if len(n.keys) != 1 {
				t.Errorf("%s: $ref with sibling keys %v", path, n.keys)
			}
			if (geminiRefs{root: root}).resolve(ref.str) == nil {
				t.Errorf("%s: unresolvable $ref %s", path, ref.str)
			}
		}
		for i, k := range n.keys {
			checkJSONSchemaForGemini(t, path+"."+k, root, n.vals[i])
		}
	}
}

// TestGeminiSchemaClaudeCodeTools converts Claude Code's own tool
// definitions (written down from the public tool documentation) in both
// modes, checks every result against Gemini's rules and compares with
// golden files.
func TestGeminiSchemaClaudeCodeTools(t *testing.T) {
	raw, err := os.ReadFile("testdata/gemini/schema/claude_code_tools.json")
	if err != nil {
		t.Fatal(err)
	}
	var tools []Tool
	if err := json.Unmarshal(raw, &tools); err != nil {
		t.Fatal(err)
	}
	wantFallback := map[string][]string{
		GeminiSchemaOpenAPI:    {"AskUserQuestion", "mcp__fs__tree"},
		GeminiSchemaJSONSchema: nil,
	}
	wantNoParams := []string{"EnterPlanMode"}
	for _, mode := range []string{GeminiSchemaOpenAPI, GeminiSchemaJSONSchema} {
		t.Run(mode, func(t *testing.T) {
			g := newGemini(GeminiOptions{SchemaMode: mode}, "")
			req := &Request{Model: "gemini-2.5-pro", MaxTokens: 100, Tools: tools,
				Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}}}
			up, err := g.TransformRequest(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Tools []struct {
					FunctionDeclarations []geminiFunctionDecl `json:"functionDeclarations"`
				} `json:"tools"`
			}
			if err := json.Unmarshal(up.Body, &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Tools) != 1 || len(body.Tools[0].FunctionDeclarations) != len(tools) {
				t.Fatalf("got %d tool entries; want one with %d declarations", len(body.Tools), len(tools))
			}
			var fallback, noParams []string
			for i, d := range body.Tools[0].FunctionDeclarations {
				if d.Name != tools[i].Name {
					t.Errorf("declaration %d named %q; want %q", i, d.Name, tools[i].Name)
				}
				switch {
				case d.Parameters != nil && d.ParametersJSONSchema != nil:
					t.Errorf("%s: both parameters and parametersJsonSchema", d.Name)
				case d.Parameters != nil:
					if mode != GeminiSchemaOpenAPI {
						t.Errorf("%s: parameters in jsonschema mode", d.Name)
					}
					checkOpenAPISchema(t, d.Name, mustParse(t, d.Parameters), true)
				case d.ParametersJSONSchema != nil:
					if mode == GeminiSchemaOpenAPI {
						fallback = append(fallback, d.Name)
					}
					root := mustParse(t, d.ParametersJSONSchema)
					checkJSONSchemaForGemini(t, d.Name, root, root)
				default:
					noParams = append(noParams, d.Name)
				}
			}
			sort.Strings(fallback)
			if strings.Join(fallback, ",") != strings.Join(wantFallback[mode], ",") {
				t.Errorf("fallback tools = %v; want %v", fallback, wantFallback[mode])
			}
			if strings.Join(noParams, ",") != strings.Join(wantNoParams, ",") {
				t.Errorf("tools without parameters = %v; want %v", noParams, wantNoParams)
			}
			b, _ := marshalNoEscape(body.Tools[0].FunctionDeclarations)
			checkGolden(t, "testdata/gemini/schema/claude_code_tools."+mode+".golden.json", indentJSON(t, b))
		})
	}
}
