package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// randomIDs matches the ids the router makes up, which goldens cannot hold.
var randomIDs = regexp.MustCompile(`\b(toolu|msg|call)_[A-Za-z0-9]{24}\b`)

func trStable(b []byte) []byte { return randomIDs.ReplaceAll(b, []byte("${1}_RANDOM")) }

// trUse is one entry of a test chain, as in config: "name" or
// ["name", {options}].
type trUse struct {
	Name    string
	Options json.RawMessage
}

func (u *trUse) UnmarshalJSON(b []byte) error {
	if json.Unmarshal(b, &u.Name) == nil {
		return nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) == 0 || len(pair) > 2 {
		return fmt.Errorf("bad use entry %s", b)
	}
	if err := json.Unmarshal(pair[0], &u.Name); err != nil {
		return err
	}
	if len(pair) == 2 {
		u.Options = pair[1]
	}
	return nil
}

// trChain applies use entries to a fresh chain, as buildProvider does.
func trChain(t *testing.T, model string, uses []trUse) *Chain {
	t.Helper()
	defs := DefaultTransformers()
	c := &Chain{Provider: "p", BaseURL: "http://127.0.0.1/v1/chat/completions", Model: model, Env: func(string) string { return "" }}
	for _, u := range uses {
		def, ok := defs[u.Name]
		if !ok {
			t.Fatalf("no transformer %q", u.Name)
		}
		if err := def.Apply(c, u.Options); err != nil {
			t.Fatalf("apply %s %s: %v", u.Name, u.Options, err)
		}
	}
	return c
}

func trFormat(c *Chain) Transformer {
	if c.Format != nil {
		return c.Format
	}
	return NewOpenAI(c.OpenAI)
}

// TestTransformerGoldens runs every case under testdata/transformers: a
// directory with use.json (the chain) and any of
//
//	request.json           hub request → request.golden.json (after Request hooks)
//	upstream.json          encoded upstream body → upstream.golden.json (after Upstream hooks);
//	                       without it, upstream.golden.json is the chain's format output
//	response.json          hub response → response.golden.json (after Response hooks)
//	upstream_response.json upstream body → response.golden.json (format, then hooks)
//	stream.sse             hub events → stream.golden.sse (after Stream hooks)
//	upstream.sse           upstream events → stream.golden.sse (format, then hooks)
//
// Cases that need the chain's format are skipped while NewOpenAI is a stub.
func TestTransformerGoldens(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "transformers", "*", "*", "use.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		name := strings.TrimPrefix(filepath.ToSlash(dir), "testdata/transformers/")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runTransformerCase(t, dir)
		})
	}
}

func runTransformerCase(t *testing.T, dir string) {
	ctx := t.Context()
	var uses []trUse
	if err := json.Unmarshal(readOptional(t, filepath.Join(dir, "use.json")), &uses); err != nil {
		t.Fatalf("use.json: %v", err)
	}
	req := &Request{Model: "m", MaxTokens: 1024, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}}}
	if b := readOptional(t, filepath.Join(dir, "request.json")); b != nil {
		req = new(Request)
		if err := json.Unmarshal(b, req); err != nil {
			t.Fatalf("request.json: %v", err)
		}
	}
	req.ClientModel = "claude-sonnet-4-5"
	c := trChain(t, string(readOptional(t, filepath.Join(dir, "model.txt"))), uses)
	format := trFormat(c)
	needFormat := func() bool {
		if format == nil {
			t.Log("NewOpenAI is a stub: format cases skipped")
		}
		return format != nil
	}

	// Request and upstream effects.
	hreq := req.Clone()
	for _, h := range c.Hooks {
		if h.Request != nil {
			if err := h.Request(ctx, hreq); err != nil {
				t.Fatalf("hook %s: %v", h.Name, err)
			}
		}
	}
	if readOptional(t, filepath.Join(dir, "request.json")) != nil {
		b, err := hreq.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, filepath.Join(dir, "request.golden.json"), indentJSON(t, b))
	}
	var up *UpstreamRequest
	if b := readOptional(t, filepath.Join(dir, "upstream.json")); b != nil {
		up = &UpstreamRequest{Body: b}
	} else if _, err := os.Stat(filepath.Join(dir, "upstream.golden.json")); err == nil && needFormat() {
		var err error
		if up, err = format.TransformRequest(ctx, hreq); err != nil {
			t.Fatalf("TransformRequest: %v", err)
		}
	}
	if up != nil {
		for _, h := range c.Hooks {
			if h.Upstream != nil {
				if err := h.Upstream(ctx, hreq, up); err != nil {
					t.Fatalf("hook %s: %v", h.Name, err)
				}
			}
		}
		checkGolden(t, filepath.Join(dir, "upstream.golden.json"), indentJSON(t, up.Body))
	}

	// Response effect.
	var resp *Response
	if b := readOptional(t, filepath.Join(dir, "response.json")); b != nil {
		resp = new(Response)
		if err := json.Unmarshal(b, resp); err != nil {
			t.Fatalf("response.json: %v", err)
		}
	} else if b := readOptional(t, filepath.Join(dir, "upstream_response.json")); b != nil && needFormat() {
		var err error
		if resp, err = format.TransformResponse(ctx, hreq, b); err != nil {
			t.Fatalf("TransformResponse: %v", err)
		}
	}
	if resp != nil {
		for i := len(c.Hooks) - 1; i >= 0; i-- {
			if h := c.Hooks[i].Response; h != nil {
				if err := h(ctx, hreq, resp); err != nil {
					t.Fatalf("hook %s: %v", c.Hooks[i].Name, err)
				}
			}
		}
		resp.Raw = nil
		b, err := marshalNoEscape(resp)
		if err != nil {
			t.Fatal(err)
		}
		checkResponseIDs(t, resp)
		checkGolden(t, filepath.Join(dir, "response.golden.json"), trStable(indentJSON(t, b)))
	}

	// Stream effect, in every read variant.
	hooks := func(r EventReader) EventReader {
		for i := len(c.Hooks) - 1; i >= 0; i-- {
			if h := c.Hooks[i].Stream; h != nil {
				r = h(ctx, hreq, r)
			}
		}
		return r
	}
	hub := readOptional(t, filepath.Join(dir, "stream.sse"))
	in, convert := hub, hooks
	if in == nil {
		if b := readOptional(t, filepath.Join(dir, "upstream.sse")); b != nil && needFormat() {
			in = b
			convert = func(src EventReader) EventReader { return hooks(format.TransformStream(ctx, hreq, src)) }
		}
	}
	if in == nil {
		return
	}
	var events []Event
	checkStreamVariants(t, streamRules{}, in, filepath.Join(dir, "stream.golden.sse"), convert, func(evs []Event, err error) []byte {
		if err != nil {
			t.Errorf("stream: %v", err)
		}
		checkStreamIDs(t, evs)
		if events == nil {
			events = evs
		}
		return trStable(eventsSSE(evs))
	})
	// Split every hub event's deltas into one-byte pieces: the result must
	// carry the same content.
	if hub == nil {
		return
	}
	split, err := readEvents(hooks(&splitDeltas{src: NewSSEReader(bytes.NewReader(hub))}))
	if err != nil {
		t.Fatalf("split stream: %v", err)
	}
	if err := checkStream(split, false); err != nil {
		t.Errorf("split stream: %v", err)
	}
	if g, w := streamContent(t, split), streamContent(t, events); g != w {
		t.Errorf("content with one-byte deltas differs:\n got %s\nwant %s", g, w)
	}
}

// checkResponseIDs checks that tool_use ids are unique and valid.
func checkResponseIDs(t *testing.T, resp *Response) {
	t.Helper()
	seen := map[string]bool{}
	for _, b := range resp.Content {
		if b.Type == "tool_use" {
			if seen[b.ID] || sanitizeID(b.ID) != b.ID || b.ID == "" {
				t.Errorf("tool_use id %q repeated or invalid", b.ID)
			}
			seen[b.ID] = true
		}
	}
}

func checkStreamIDs(t *testing.T, events []Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range events {
		var e struct {
			ContentBlock hubBlock `json:"content_block"`
		}
		if json.Unmarshal(ev.Data, &e) == nil && e.ContentBlock.Type == "tool_use" {
			id := e.ContentBlock.ID
			if seen[id] || sanitizeID(id) != id || id == "" {
				t.Errorf("tool_use id %q repeated or invalid", id)
			}
			seen[id] = true
		}
	}
}

// splitDeltas splits the text, thinking and partial_json of every delta
// into one-byte deltas.
type splitDeltas struct {
	src     EventReader
	pending []Event
}

func (s *splitDeltas) ReadEvent() (Event, error) {
	if len(s.pending) > 0 {
		ev := s.pending[0]
		s.pending = s.pending[1:]
		return ev, nil
	}
	ev, err := s.src.ReadEvent()
	if err != nil || eventTypeOf(ev.Data) != "content_block_delta" {
		return ev, err
	}
	var e struct {
		Index int `json:"index"`
		Delta struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Thinking    string `json:"thinking"`
			PartialJSON string `json:"partial_json"`
		} `json:"delta"`
	}
	json.Unmarshal(ev.Data, &e)
	field, val := "", ""
	switch e.Delta.Type {
	case "text_delta":
		field, val = "text", e.Delta.Text
	case "thinking_delta":
		field, val = "thinking", e.Delta.Thinking
	case "input_json_delta":
		field, val = "partial_json", e.Delta.PartialJSON
	default:
		return ev, nil
	}
	for i := 0; i < len(val); i++ {
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": e.Index, "delta": map[string]string{"type": e.Delta.Type, field: val[i : i+1]}})
		s.pending = append(s.pending, Event{Type: "content_block_delta", Data: d})
	}
	return s.ReadEvent()
}

// streamContent summarises the message a stream carries, as a client
// accumulates it: each block's type, name and content, and the stop
// reason. Ids and signatures, which may be made up, are left out.
func streamContent(t *testing.T, events []Event) string {
	t.Helper()
	blocks, stop := accumulate(t, events)
	var out []string
	for _, b := range blocks {
		out = append(out, b.Type+":"+b.Name+":"+b.Text+b.Thinking+string(b.Input))
	}
	b, _ := json.Marshal(append(out, "stop:"+stop))
	return string(b)
}

// TestBuiltinTransformerDefs checks the definitions: unique names, a
// description, an Apply, and strict options: an unknown option is an error.
func TestBuiltinTransformerDefs(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range builtinTransformers() {
		if seen[d.Name] {
			t.Errorf("transformer %q defined twice", d.Name)
		}
		seen[d.Name] = true
	}
	for _, d := range builtinTransformerDefs() {
		t.Run(d.Name, func(t *testing.T) {
			if d.Description == "" || d.Apply == nil {
				t.Fatalf("%s: missing description or Apply", d.Name)
			}
			if err := d.Apply(&Chain{}, nil); err != nil && d.Name != "maxtoken" {
				t.Errorf("Apply without options: %v", err)
			}
			free := len(d.Options) == 1 && d.Options[0].Name == "*"
			err := d.Apply(&Chain{}, json.RawMessage(`{"no_such_option":1}`))
			if free != (err == nil) {
				t.Errorf("Apply with an unknown option: err = %v", err)
			}
			if err := d.Apply(&Chain{}, json.RawMessage(`[1]`)); err == nil {
				t.Errorf("Apply with a non-object: no error")
			}
		})
	}
}

// TestHooksWithoutResponseEffect lists the transformers that only change
// requests: their hooks must not touch answers.
func TestHooksWithoutResponseEffect(t *testing.T) {
	for _, u := range []trUse{
		{Name: "maxtoken", Options: json.RawMessage(`{"max_tokens":10}`)},
		{Name: "maxcompletiontokens", Options: json.RawMessage(`{"max_completion_tokens":10}`)},
		{Name: "sampling", Options: json.RawMessage(`{"max_tokens":10,"repetition_penalty":1.1}`)},
		{Name: "customparams", Options: json.RawMessage(`{"a":1}`)},
		{Name: "streamoptions"}, {Name: "cleancache"}, {Name: "reasoning"}, {Name: "deepseek"}, {Name: "cerebras"}, {Name: "OpenAI"},
	} {
		c := trChain(t, "", []trUse{u})
		for _, h := range c.Hooks {
			if h.Response != nil || h.Stream != nil {
				t.Errorf("%s: hook %s changes answers", u.Name, h.Name)
			}
		}
	}
}

func TestChainFlags(t *testing.T) {
	for _, tc := range []struct {
		use  []trUse
		want OpenAIOptions
	}{
		{[]trUse{{Name: "deepseek"}}, OpenAIOptions{Reasoning: "deepseek", ReasoningPassback: true}},
		{[]trUse{{Name: "openrouter"}}, OpenAIOptions{Reasoning: "openrouter", TopK: true, CacheControl: true}},
		{[]trUse{{Name: "vercel"}}, OpenAIOptions{Reasoning: "openrouter", TopK: true, CacheControl: true}},
		{[]trUse{{Name: "openrouter"}, {Name: "groq"}}, OpenAIOptions{Reasoning: "openrouter", TopK: true}},
		{[]trUse{{Name: "cerebras"}}, OpenAIOptions{MaxCompletionTokens: true}},
		{[]trUse{{Name: "maxcompletiontokens"}}, OpenAIOptions{MaxCompletionTokens: true}},
		{[]trUse{{Name: "streamoptions", Options: json.RawMessage(`{"include_usage":false}`)}}, OpenAIOptions{NoStreamOptions: true}},
		{[]trUse{{Name: "streamoptions", Options: json.RawMessage(`{"include_usage":false}`)}, {Name: "streamoptions"}}, OpenAIOptions{}},
		{[]trUse{{Name: "openrouter"}, {Name: "cleancache"}}, OpenAIOptions{Reasoning: "openrouter", TopK: true}},
		{[]trUse{{Name: "sampling", Options: json.RawMessage(`{"top_k":40}`)}}, OpenAIOptions{TopK: true}},
		{[]trUse{{Name: "enhancetool"}}, OpenAIOptions{RepairToolArgs: true}},
	} {
		c := trChain(t, "", tc.use)
		if c.OpenAI != tc.want {
			t.Errorf("%v: OpenAI = %+v, want %+v", tc.use, c.OpenAI, tc.want)
		}
		if c.Format != nil {
			t.Errorf("%v: Format set", tc.use)
		}
	}
}

func TestDeepSeekLimit(t *testing.T) {
	for model, want := range map[string]int{"deepseek-chat": 8192, "DeepSeek-Reasoner": 65536, "deepseek/deepseek-chat": 8192,
		"deepseek-v4-pro": 384000, "deepseek-v4-flash": 384000, "deepseek-coder": 0, "gpt-4o": 0} {
		if got := deepSeekLimit(model); got != want {
			t.Errorf("deepSeekLimit(%q) = %d, want %d", model, got, want)
		}
	}
}

func TestClampMaxTokens(t *testing.T) {
	for _, tc := range []struct {
		max, budget, limit  int
		wantMax, wantBudget int
	}{
		{128000, 31999, 8192, 8192, 6144},
		{128000, 4000, 8192, 8192, 4000},
		{128000, 31999, 1200, 1200, 1024},
		{128000, 31999, 1000, 1000, 750},
		{4000, 2000, 8192, 4000, 2000},
		{128000, 0, 0, 128000, 0},
	} {
		req := &Request{MaxTokens: tc.max}
		if tc.budget > 0 {
			req.Thinking = &Thinking{Type: "enabled", BudgetTokens: tc.budget}
		}
		clampMaxTokens(req, tc.limit)
		b := 0
		if req.Thinking != nil {
			b = req.Thinking.BudgetTokens
		}
		if req.MaxTokens != tc.wantMax || b != tc.wantBudget {
			t.Errorf("clamp(%d, budget %d, limit %d) = %d, %d; want %d, %d", tc.max, tc.budget, tc.limit, req.MaxTokens, b, tc.wantMax, tc.wantBudget)
		}
	}
}

func TestDeleteMember(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"$schema":"x","type":"object"}`, `{"type":"object"}`},
		{`{"type":"object", "$schema":"x"}`, `{"type":"object"}`},
		{`{"a":1, "$schema":"x", "b":{"$schema":2}}`, `{"a":1, "b":{"$schema":2}}`},
		{`{"$schema":"x"}`, `{}`},
		{`{"$schema":"x","$schema":"y","a":1}`, `{"a":1}`},
		{`{"a":1}`, `{"a":1}`},
	} {
		got, _ := deleteMember([]byte(tc.in), "$schema")
		if string(got) != tc.want {
			t.Errorf("deleteMember(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMergeBody(t *testing.T) {
	body := `{"model":"m","temperature":0.5,"kw":{"a":1,"n":{"x":1}},"stream":true}`
	params := map[string]json.RawMessage{
		"temperature": json.RawMessage(`1`),
		"kw":          json.RawMessage(`{"a":2,"b":3,"n":{"y":2}}`),
		"top_k":       json.RawMessage(`20`),
		"stream":      json.RawMessage(`{"x":1}`),
	}
	for _, tc := range []struct {
		overwrite bool
		want      string
	}{
		{false, `{"model":"m","temperature":0.5,"kw":{"a":1,"n":{"x":1,"y":2},"b":3},"stream":true,"top_k":20}`},
		{true, `{"model":"m","temperature":1,"kw":{"a":2,"b":3,"n":{"y":2}},"stream":{"x":1},"top_k":20}`},
	} {
		up := &UpstreamRequest{Body: []byte(body)}
		if err := mergeBody(up, params, tc.overwrite); err != nil {
			t.Fatal(err)
		}
		if string(up.Body) != tc.want {
			t.Errorf("mergeBody(overwrite=%v) = %s, want %s", tc.overwrite, up.Body, tc.want)
		}
	}
	if err := mergeBody(&UpstreamRequest{Body: []byte(`[]`)}, params, false); err == nil {
		t.Error("merge into a non-object: no error")
	}
}

func TestTagSplitter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<think>plan</think>\n\nanswer", "[T:plan][A:answer]"},
		{"no tags at all", "[A:no tags at all]"},
		{"a <b> c < think", "[A:a <b> c < think]"},
		{"<think>unterminated", "[T:unterminated]"},
		{"x<think>y</think>z<think>w</think>", "[A:x][T:y][A:z][T:w]"},
		{"<thin", "[A:<thin]"},
		{"<think></think>only", "[A:only]"},
	} {
		// Every way of splitting the input in two gives the same parts.
		for cut := 0; cut <= len(tc.in); cut++ {
			sp := newTagSplitter("think")
			var got strings.Builder
			last := ""
			emit := func(in bool, s string) {
				k := "A"
				if in {
					k = "T"
				}
				if k == last {
					s2 := got.String()
					got.Reset()
					got.WriteString(s2[:len(s2)-1] + s + "]")
					return
				}
				last = k
				got.WriteString("[" + k + ":" + s + "]")
			}
			sp.feed(tc.in[:cut], emit)
			sp.feed(tc.in[cut:], emit)
			sp.flush(emit)
			if got.String() != tc.want {
				t.Errorf("split %q at %d = %s, want %s", tc.in, cut, got.String(), tc.want)
			}
		}
	}
}

func TestArgsRepairer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`{ "a" : [1, 2.5e3, true, null, "x\"y\u00e9"], "b" : {} }`, `{ "a" : [1, 2.5e3, true, null, "x\"y\u00e9"], "b" : {} }`},
		{`{"a":1,}`, `{"a":1}`},
		{`{"a":[1,2,],}`, `{"a":[1,2]}`},
		{`{"a":1 "b":2}`, `{"a":1 ,"b":2}`},
		{`{"a" 1}`, `{"a" :1}`},
		{`{"a":}`, `{"a":null}`},
		{`{"a"`, `{"a":null}`},
		{`{"cmd":"ls -la`, `{"cmd":"ls -la"}`},
		{`{"a":{"b":[1,{"c":`, `{"a":{"b":[1,{"c":null}]}}`},
		{`{a: 1, b_2: 'x'}`, `{"a": 1, "b_2": "x"}`},
		{`{'s': 'say "hi" it\'s'}`, `{"s": "say \"hi\" it's"}`},
		{"{\"s\":\"line\nbreak\ttab\x01\"}", `{"s":"line\nbreak\ttab\u0001"}`},
		{`{"p":"C:\dir\u12"}`, `{"p":"C:\\dir\\u12"}`},
		{`{"p":"C:\dir\u12`, `{"p":"C:\\dir"}`},
		{`{"a":True,"b":None,"c":NaN,"d":undefined}`, `{"a":true,"b":null,"c":null,"d":null}`},
		{`{"x":+1,"y":.5,"z":1.,"w":007}`, `{"x":1,"y":0.5,"z":1,"w":7}`},
		{`{"a":hello}`, `{"a":"hello"}`},
		{"```json\n{\"a\":1}\n```", `{"a":1}`},
		{`Sure! {"a":1} hope this helps {"b":2}`, `{"a":1}`},
		{`{"a":[1}`, `{"a":[1]}`},
		{`{"a":1]}`, `{"a":1}`},
		{`{{"a":1}`, `{"a":1}`},
		{`{,"a":1}`, `{"a":1}`},
		{`{"a":1,,"b":2}`, `{"a":1,"b":2}`},
		{`[1,2]`, `{}`},
		{``, `{}`},
		{`not json`, `{}`},
		{`{"a":"\`, `{"a":""}`},
		{`{"a":tru`, `{"a":"tru"}`},
		{`{"a":-`, `{"a":"-"}`},
	} {
		var r argsRepairer
		got := r.feed(tc.in) + r.finish()
		if got != tc.want {
			t.Errorf("repair(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("repair(%q) = %s: not valid JSON", tc.in, got)
		}
	}
}

// FuzzArgsRepairer checks the repairer's promises: the output is a valid
// JSON object; feeding the input in any pieces gives the same output;
// valid JSON objects pass through unchanged.
func FuzzArgsRepairer(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,2,],}`, `{a:'x'`, `{"s":"\u00`, "{\"k\":\"v\n", `{"a":1 "b":{"c":[true False`} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, step uint8) {
		var whole argsRepairer
		want := whole.feed(in) + whole.finish()
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(want), &obj); err != nil {
			t.Fatalf("repair(%q) = %q: not a JSON object: %v", in, want, err)
		}
		n := int(step)%7 + 1
		var parts argsRepairer
		var got strings.Builder
		for i := 0; i < len(in); i += n {
			got.WriteString(parts.feed(in[i:min(i+n, len(in))]))
		}
		got.WriteString(parts.finish())
		if got.String() != want {
			t.Fatalf("repair(%q) in pieces of %d = %q, whole = %q", in, n, got.String(), want)
		}
		trimmed := strings.TrimSpace(in)
		if strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)) && want != trimmed {
			t.Fatalf("valid %q changed to %q", trimmed, want)
		}
	})
}

// TestHubRewriterIdentity checks that the identity editor keeps a stream's
// content and invariants, and that errors from the source pass unchanged.
func TestHubRewriterIdentity(t *testing.T) {
	in := readFile(t, filepath.Join("testdata", "transformers", "hub.sse"))
	events, err := readEvents(newHubRewriter(NewSSEReader(bytes.NewReader(in)), hubHandler{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStream(events, false); err != nil {
		t.Error(err)
	}
	orig, _ := readEvents(NewSSEReader(bytes.NewReader(in)))
	if g, w := streamContent(t, events), streamContent(t, orig); g != w {
		t.Errorf("identity rewrite changed content:\n got %s\nwant %s", g, w)
	}
	if !bytes.Equal(eventsSSE(events), eventsSSE(orig)) {
		t.Errorf("identity rewrite changed bytes:\n%s", eventsSSE(events))
	}
	boom := errors.New("boom")
	n := 0
	src := EventReaderFunc(func() (Event, error) {
		if n < 3 {
			n++
			return orig[n-1], nil
		}
		return Event{}, boom
	})
	_, err = readEvents(newHubRewriter(src, hubHandler{}))
	if err != boom {
		t.Errorf("error = %v, want the source's error unchanged", err)
	}
}

// TestTransformersInConfig uses every transformer in a chain through
// ParseConfig and New, at provider and model level, and checks that bad
// options are reported with their JSON path.
func TestTransformersInConfig(t *testing.T) {
	good := []string{
		`"OpenAI"`, `"deepseek"`, `["deepseek",{"max_tokens":4096}]`, `"openrouter"`, `["openrouter",{"provider":{"only":["anthropic"]}}]`,
		`"vercel"`, `"groq"`, `"cerebras"`, `["maxtoken",{"max_tokens":8192}]`, `"maxcompletiontokens"`,
		`["maxcompletiontokens",{"max_completion_tokens":4096}]`, `["sampling",{"max_tokens":100,"temperature":0.2,"top_p":0.9,"top_k":40,"repetition_penalty":1.05}]`,
		`["customparams",{"chat_template_kwargs":{"enable_thinking":false}}]`, `"streamoptions"`, `["streamoptions",{"include_usage":false}]`,
		`"cleancache"`, `"reasoning"`, `["reasoning",{"enable":false}]`, `"forcereasoning"`, `"extrathinktag"`, `["extrathinktag",{"tag":"thought"}]`,
		`"tooluse"`, `"enhancetool"`, `"openai-responses"`, `["openai-responses",{"summary":"detailed"}]`,
	}
	bad := map[string]string{
		`["maxtoken"]`:                              "max_tokens is required",
		`["maxtoken",{"max_tokens":0}]`:             "positive integer",
		`["maxtoken",{"max_tokens":1.5}]`:           "positive integer",
		`["maxtoken",{"max_token":10}]`:             "unknown field",
		`["deepseek",{"max_tokens":"8k"}]`:          "expected a number",
		`["groq",{"x":1}]`:                          "unknown field",
		`["cerebras",{"x":1}]`:                      "unknown field",
		`["sampling",{"temperature":3}]`:            "outside 0 to 2",
		`["sampling",{"top_p":-1}]`:                 "outside 0 to 1",
		`["sampling",{"top_k":2.5}]`:                "non-negative integer",
		`["sampling",{"repetition_penalty":0}]`:     "not positive",
		`["sampling",{"temp":1}]`:                   "unknown field",
		`["streamoptions",{"include_usage":"yes"}]`: "bad options",
		`["reasoning",{"enable":1}]`:                "bad options",
		`["reasoning",{"enabled":true}]`:            "unknown field",
		`["extrathinktag",{"tag":"</x>"}]`:          "not a tag name",
		`["tooluse",{"x":1}]`:                       "unknown field",
		`["enhancetool",{"x":1}]`:                   "unknown field",
		`["cleancache",{"x":1}]`:                    "unknown field",
		`["forcereasoning",{"x":1}]`:                "unknown field",
		`["OpenAI",{"x":1}]`:                        "unknown field",
		`["openai-responses",{"summary":"long"}]`:   "summary",
		`["openai-responses",{"x":1}]`:              "unknown field",
		`"nosuchtransformer"`:                       "unknown transformer",
		`["openrouter",{"model":"x"}]`:              "cannot be overridden",
	}
	cfg := func(provider, model string) string {
		return `{"Providers":[{"name":"p","api_base_url":"http://127.0.0.1:1/v1/chat/completions","api_key":"k","models":["m"],
			"transformer":{"use":[` + provider + `],"m":{"use":[` + model + `]}}}],"Router":{"default":"p,m"}}`
	}
	for _, g := range good {
		for _, level := range []string{"provider", "model"} {
			src := cfg(g, "")
			if level == "model" {
				src = cfg("", g)
			}
			rt, err := newTestRouter(t, src)
			if err != nil {
				t.Errorf("%s at %s level: New: %v", g, level, err)
				continue
			}
			rt.Close()
		}
	}
	for entry, msg := range bad {
		for _, level := range []string{"provider", "model"} {
			src, path := cfg(entry, ""), "Providers[0].transformer.use[0]"
			if level == "model" {
				src, path = cfg(`"deepseek"`, entry), "Providers[0].transformer.m.use[0]"
			}
			_, err := newTestRouter(t, src)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("%s at %s level: err = %v, want *ConfigError", entry, level, err)
				continue
			}
			found := false
			for _, p := range ce.Problems {
				if p.Path == path && strings.Contains(p.Message, msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s at %s level: problems %v, want %s: ...%s...", entry, level, ce.Problems, path, msg)
			}
		}
	}
}

// TestTransformerDocs checks that every option a definition documents is
// accepted by its Apply, so that GET /api/transformers does not lie.
func TestTransformerDocs(t *testing.T) {
	sample := map[string]string{"number": "1", "string": `"think"`, "boolean": "true", "object": "{}", "any": "1"}
	special := map[string]string{"openai-responses/summary": `"auto"`, "openai-responses/effort": `"low"`, "OpenAI/reasoning": `"openrouter"`}
	var names []string
	for _, d := range builtinTransformerDefs() {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	defs := DefaultTransformers()
	for _, n := range names {
		d := defs[n]
		for _, o := range d.Options {
			if o.Name == "*" {
				continue
			}
			v, ok := special[n+"/"+o.Name]
			if !ok {
				v = sample[o.Type]
			}
			opts := json.RawMessage(`{"` + o.Name + `":` + v + `}`)
			if err := d.Apply(&Chain{}, opts); err != nil {
				t.Errorf("%s: documented option %s: %v", n, opts, err)
			}
		}
	}
}

// TestExitExtractor feeds ExitTool arguments one byte at a time and whole:
// the response argument must come out decoded and complete either way.
func TestExitExtractor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"response":"Hello, world!"}`, "Hello, world!"},
		{`{"note":"x","nested":{"response":"no"},"response":"line\none \"q\" \u00e9 \ud83d\ude00"}`, "line\none \"q\" é 😀"},
		{`{"response": "unterminated`, "unterminated"},
		{`{'response': 'single quoted'}`, "single quoted"},
		{`{"response": 42}`, `{"response": 42}`},
		{`{"answer":"no response key"}`, `{"answer":"no response key"}`},
		{`{}`, ""},
		{``, ""},
	} {
		for _, step := range []int{1, 3, 1000} {
			var x exitExtractor
			var got strings.Builder
			for i := 0; i < len(tc.in); i += step {
				got.WriteString(x.feed(tc.in[i:min(i+step, len(tc.in))]))
			}
			got.WriteString(x.finish())
			if got.String() != tc.want {
				t.Errorf("extract(%s) in pieces of %d = %q, want %q", tc.in, step, got.String(), tc.want)
			}
		}
	}
}
