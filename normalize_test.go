package ccr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustMessages(t *testing.T, s string) []Message {
	t.Helper()
	var m []Message
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("messages %s: %v", s, err)
	}
	return m
}

func TestNormalizeMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts normalizeOptions
		want string
	}{
		{"E65", `[{"role":"user","content":"A"},{"role":"user","content":[{"type":"text","text":"B"}]},{"role":"assistant","content":[]},{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"C"}]},{"role":"assistant","content":"D"},{"role":"assistant","content":"E"},{"role":"user","content":"F"}]`,
			normalizeOptions{},
			`[{"role":"user","content":[{"type":"text","text":"A"},{"type":"text","text":"B"},{"type":"text","text":"C"}]},{"role":"assistant","content":[{"type":"text","text":"D"},{"type":"text","text":"E"}]},{"role":"user","content":[{"type":"text","text":"F"}]}]`},
		{"whitespace kept", `[{"role":"user","content":[{"type":"text","text":" "},{"type":"text","text":"x"}]}]`,
			normalizeOptions{},
			`[{"role":"user","content":[{"type":"text","text":" "},{"type":"text","text":"x"}]}]`},
		{"whitespace dropped for Gemini", `[{"role":"user","content":[{"type":"text","text":" \n"},{"type":"text","text":"x"}]},{"role":"assistant","content":" "}]`,
			normalizeOptions{DropBlankText: true},
			`[{"role":"user","content":[{"type":"text","text":"x"}]}]`},
		{"null content dropped", `[{"role":"user","content":null},{"role":"user","content":"x"}]`,
			normalizeOptions{},
			`[{"role":"user","content":[{"type":"text","text":"x"}]}]`},
		{"system messages merge", `[{"role":"user","content":"x"},{"role":"system","content":"a"},{"role":"system","content":[{"type":"text","text":"b"}]}]`,
			normalizeOptions{},
			`[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]`},
		{"system as user", `[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"system","content":"Reply in French."},{"role":"user","content":"How are you?"}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":[{"type":"text","text":"Hello"}]},{"role":"user","content":[{"type":"text","text":"[System]\nReply in French."},{"type":"text","text":"How are you?"}]}]`},
		{"mid_conv_system block as user text", `[{"role":"user","content":[{"type":"mid_conv_system","content":[{"type":"text","text":"S1"},{"type":"text","text":"S2"}]},{"type":"text","text":"q"}]}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"user","content":[{"type":"text","text":"[System]\nS1\n\nS2"},{"type":"text","text":"q"}]}]`},
		{"empty system message dropped", `[{"role":"user","content":"x"},{"role":"system","content":""},{"role":"user","content":"y"}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]`},
		{"blank system message kept", `[{"role":"user","content":"x"},{"role":"system","content":" "}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"[System]\n "}]}]`},
		{"blank system texts dropped for Gemini", `[{"role":"user","content":"x"},{"role":"system","content":" "},{"role":"user","content":[{"type":"mid_conv_system","content":[{"type":"text","text":"\n"}]},{"type":"text","text":"y"}]}]`,
			normalizeOptions{SystemAsUser: true, DropBlankText: true},
			`[{"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]`},
		{"mid_conv_system block in an assistant turn", `[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":"S"},{"type":"text","text":"b"}]},{"role":"user","content":"r"}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"user","content":[{"type":"text","text":"q"}]},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":[{"type":"text","text":"[System]\nS"}]},{"role":"assistant","content":[{"type":"text","text":"b"}]},{"role":"user","content":[{"type":"text","text":"r"}]}]`},
		{"mid_conv_system block ending an assistant turn", `[{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":"S"}]},{"role":"user","content":"r"}]`,
			normalizeOptions{SystemAsUser: true},
			`[{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":[{"type":"text","text":"[System]\nS"},{"type":"text","text":"r"}]}]`},
		{"mid_conv_system block kept without SystemAsUser", `[{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":"S"}]}]`,
			normalizeOptions{},
			`[{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"mid_conv_system","content":"S"}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustMessages(t, tt.in)
			before, _ := json.Marshal(in)
			got, err := json.Marshal(normalizeMessages(in, tt.opts))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("normalizeMessages(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			after, _ := json.Marshal(in)
			if string(before) != string(after) {
				t.Errorf("input modified:\n%s\n%s", before, after)
			}
		})
	}
}

// TestNormalizeMessagesNoAliasing checks that merging never writes into
// the caller's content arrays.
func TestNormalizeMessagesNoAliasing(t *testing.T) {
	c := make(Content, 1, 8) // spare capacity a careless append would use
	c[0] = ContentBlock{Type: "text", Text: "a"}
	in := []Message{{Role: "user", Content: c}, {Role: "user", Content: Content{{Type: "text", Text: "b"}}}}
	out := normalizeMessages(in, normalizeOptions{})
	out[0].Content[0].Text = "changed"
	if len(out[0].Content) != 2 || c[:2][1].Text != "" || in[0].Content[0].Text != "a" {
		t.Fatalf("normalizeMessages aliases its input: %+v", in)
	}
}

func TestSystemPrompt(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`"S"`, "S"},
		{`""`, ""},
		{`[]`, ""},
		{`[{"type":"text","text":"A"},{"type":"text","text":""},{"type":"text","text":"B"}]`, "A\n\nB"},
		{`[{"type":"text","text":"x-anthropic-billing-header: cc_version=1; cch=2;"},{"type":"text","text":"A"}]`, "A"},
		{`"x-anthropic-billing-header: cc_version=1;\nYou are helpful.\nLine 2"`, "You are helpful.\nLine 2"},
		{`"x-anthropic-billing-header: cc_version=1;\n  \n"`, ""},
		{`"Mention x-anthropic-billing-header: inside"`, "Mention x-anthropic-billing-header: inside"},
	}
	for _, tt := range tests {
		var c Content
		if err := json.Unmarshal([]byte(tt.in), &c); err != nil {
			t.Fatal(err)
		}
		if got := systemPrompt(c).Text("\n\n"); got != tt.want {
			t.Errorf("systemPrompt(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // "" for valid; else a prefix of the message
	}{
		{"valid", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"}]}`, ""},
		{"negative max_tokens", `{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"q"}]}`, "max_tokens: Input should be greater than or equal to 1"},
		{"assistant first is fine", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":"a"},{"role":"user","content":"q"}]}`, ""},
		{"paired through empty message", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]},{"role":"assistant","content":[{"type":"text","text":""}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`, ""},
		{"result before tool_use in same turn pair", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"tool_result","tool_use_id":"t"}]}]}`, ""},
		{"result for an older turn", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]},{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`, "messages.4.content.0: unexpected `tool_use_id`"},
		{"server tool use needs no result", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]},{"role":"user","content":"next"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
				t.Fatal(err)
			}
			err := ValidateRequest(&req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateRequest = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Type != "invalid_request_error" || !strings.HasPrefix(e.Message, tt.want) {
				t.Fatalf("ValidateRequest = %v, want 400 invalid_request_error %q…", err, tt.want)
			}
		})
	}
}
