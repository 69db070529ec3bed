package ccr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// referenceDecode decodes b with encoding/json only.
func referenceDecode(b []byte) (*Request, error) {
	var r Request
	err := json.Unmarshal(b, (*referenceRequest)(&r))
	return &r, err
}

// checkFastDecode decodes b on the fast path and, if that succeeded,
// checks the result against the reference. It reports whether the fast
// path was taken.
func checkFastDecode(t *testing.T, b []byte) bool {
	t.Helper()
	own := bytes.Clone(b)
	var fast Request
	if fast.decodeFast(own) != nil {
		return false
	}
	if m := fast.rawModel; m.end > 0 && string(own[m.start:m.end]) != string(mustMarshal(t, fast.Model)) && own[m.start] != 'n' {
		// The span must cover the model's JSON value (escapes aside).
		var s string
		if json.Unmarshal(own[m.start:m.end], &s) != nil || s != fast.Model {
			t.Fatalf("rawModel span %q does not hold the model %q", own[m.start:m.end], fast.Model)
		}
	}
	fast.rawModel = rawSpan{}
	ref, err := referenceDecode(b)
	if err != nil {
		t.Fatalf("fast path accepted %q; the reference fails: %v", b, err)
	}
	if !reflect.DeepEqual(&fast, ref) {
		g, _ := json.Marshal(&fast)
		w, _ := json.Marshal(ref)
		t.Fatalf("fast path decoded %q as\n%s\nthe reference as\n%s\n(%#v\nvs %#v)", b, g, w, fast, *ref)
	}
	return true
}

func TestDecodeFastMatchesReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		fast bool // the fast path must take it
	}{
		{"minimal", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, true},
		{"whitespace", " \n{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : [ ] } ] }\t", true},
		{"empty arrays", `{"messages":[],"tools":[],"system":[]}`, true},
		{"escapes and unicode", `{"model":"m\u00e9\n","messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \ud800 é"}]}`, true},
		{"invalid utf8", "{\"model\":\"\xff\",\"messages\":[{\"role\":\"user\",\"content\":\"a\xc3(b\"}]}", true},
		{"blocks", `{"messages":[{"role":"assistant","content":[{"type":"text","text":"t","citations":[{"x":1}],"cache_control":{"type":"ephemeral"}},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"a":[1,2,{"b":null}]}},{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"redacted_thinking","data":"abc"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"x"}],"is_error":true},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"},"title":"T","context":"C"}]}]}`, true},
		{"unknown block kept raw", `{"messages":[{"role":"user","content":[{"type":"container_upload","file_id":"f","extra":{"k":[1]}}]}]}`, true},
		{"block without type", `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`, true},
		{"unknown fields ignored", `{"messages":[{"role":"user","content":[{"type":"text","text":"x","zzz":1}],"name":"n"}]}`, true},
		{"source content and url", `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"a"}]}},{"type":"image","source":{"type":"url","url":"https://x"}},{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, true},
		{"null source", `{"messages":[{"role":"user","content":[{"type":"image","source":null}]}]}`, true},
		{"null strings", `{"model":null,"messages":[{"role":null,"content":null}]}`, true},
		{"null raw fields", `{"metadata":null,"messages":[{"role":"user","content":[{"type":"tool_use","input":null,"cache_control":null,"is_error":null}]}]}`, true},
		{"tools", `{"tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]},"cache_control":{"type":"ephemeral"},"strict":true},{"type":"web_search_20250305","name":"web_search","max_uses":5,"allowed_domains":["a.com"]},{"type":"custom","name":"x","defer_loading":true,"defer_loading":false}]}`, true},
		{"system string", `{"system":"be brief","messages":[]}`, true},
		{"system blocks", `{"system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral","ttl":"1h"}}]}`, true},
		{"small fields", `{"max_tokens":32000,"temperature":0.7,"top_p":1,"top_k":40,"stop_sequences":["a","b"],"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"tool_choice":{"type":"tool","name":"x","disable_parallel_tool_use":true},"output_config":{"effort":"high"},"metadata":{"user_id":"u"}}`, true},
		{"extra top-level", `{"model":"m","context_management":{"edits":[]},"service_tier":"auto","container":null}`, true},
		{"stream false", `{"stream":false}`, true},
		{"negative max tokens", `{"max_tokens":-3}`, true},

		// Left to the reference.
		{"duplicate top-level key", `{"model":"a","model":"b"}`, false},
		{"duplicate extra", `{"x":1,"x":2}`, false},
		{"duplicate block key", `{"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}`, false},
		{"case-folded key", `{"messages":[{"Role":"user","content":"x"}]}`, false},
		{"case-folded block key", `{"messages":[{"role":"user","content":[{"TYPE":"text","text":"a"}]}]}`, false},
		{"case-folded tool key", `{"tools":[{"Name":"x"}]}`, false},
		{"escaped key", `{"mod\u0065l":"m"}`, false},
		{"non-ascii key", `{"messages":[{"role":"user","content":[{"type":"text","ſext":"a"}]}]}`, false},
		{"float max tokens", `{"max_tokens":1.5}`, false},
		{"exponent max tokens", `{"max_tokens":1e3}`, false},
		{"huge max tokens", `{"max_tokens":100000000000000000000}`, false},
		{"string max tokens", `{"max_tokens":"5"}`, false},
		{"number model", `{"model":5}`, false},
		{"null messages", `{"messages":null}`, false},
		{"null message", `{"messages":[null]}`, false},
		{"null block", `{"messages":[{"role":"user","content":[null]}]}`, false},
		{"number content", `{"messages":[{"role":"user","content":5}]}`, false},
		{"object content", `{"messages":[{"role":"user","content":{"type":"text"}}]}`, false},
		{"bool text", `{"messages":[{"role":"user","content":[{"type":"text","text":true}]}]}`, false},
		{"string is_error", `{"messages":[{"role":"user","content":[{"type":"tool_result","is_error":"yes"}]}]}`, false},
		{"array source", `{"messages":[{"role":"user","content":[{"type":"image","source":[]}]}]}`, false},
		{"null tools", `{"tools":null}`, false},
		{"null tool", `{"tools":[null]}`, false},
		{"string stream", `{"stream":"true"}`, false},
		{"syntax error", `{"model":"m",}`, false},
		{"control character", "{\"model\":\"a\x01\"}", false},
		{"trailing data", `{"model":"m"} x`, false},
		{"not an object", `["model"]`, false},
		{"empty", ``, false},
		{"bad literal", `{"stream":tru}`, false},
		{"bad number", `{"x":01}`, false},
		{"bad temperature", `{"temperature":"hot"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := checkFastDecode(t, []byte(tt.body)); got != tt.fast {
				t.Errorf("fast path taken = %v; want %v", got, tt.fast)
			}
			// Whichever path, decodeRequest answers as the reference.
			var got Request
			gerr := decodeRequest(bytes.Clone([]byte(tt.body)), &got)
			ref, rerr := referenceDecode([]byte(tt.body))
			if (gerr == nil) != (rerr == nil) || (gerr != nil && gerr.Error() != rerr.Error()) {
				t.Fatalf("decodeRequest error %v; reference %v", gerr, rerr)
			}
			got.rawModel = rawSpan{}
			if gerr == nil && !reflect.DeepEqual(&got, ref) {
				t.Fatalf("decodeRequest = %#v; reference %#v", got, *ref)
			}
		})
	}
}

// TestDecodeFastRealRequests runs the fast path over every request in
// testdata: all must take it and agree with the reference.
func TestDecodeFastRealRequests(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{"testdata/bench/*request*.json", "testdata/*/request/*.in.json", "testdata/openai/bench/*.json", "testdata/tokens/*.json"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d request files found", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := referenceDecode(b); err != nil {
			continue // a case about invalid input
		}
		if !checkFastDecode(t, b) {
			t.Errorf("%s: not decoded on the fast path", f)
		}
	}
}

// TestDecodeAliasesBody checks that raw fields decoded from a body cannot
// be appended to in place.
func TestDecodeAliasesBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"messages":[{"role":"user","content":[{"type":"tool_use","input":{"a":1},"id":"x"}]}],"metadata":{"u":1}}`)
	var r Request
	if err := decodeRequest(body, &r); err != nil {
		t.Fatal(err)
	}
	in := r.Messages[0].Content[0].Input
	_ = append(in, "XXXXXXXX"...)
	_ = append(r.Metadata, "YYYY"...)
	if !json.Valid(body) || bytes.Contains(body, []byte("XXXX")) || bytes.Contains(body, []byte("YYYY")) {
		t.Fatalf("append to a decoded field wrote into the body: %s", body)
	}
}

// FuzzDecodeRequest pins the fast request decoder to the reference: when
// it accepts a body, the reference accepts it too and decodes the same
// request.
func FuzzDecodeRequest(f *testing.F) {
	for _, p := range []string{"testdata/openai/request/*.in.json", "testdata/bench/claude_code_request.json"} {
		m, _ := filepath.Glob(p)
		for i, file := range m {
			if i%4 != 0 {
				continue // a sample keeps the corpus quick to run
			}
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}`))
	f.Add([]byte(`{"tools":[{"name":"x","max_uses":1,"max_uses":2}],"model":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastDecode(t, b)
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPassthroughSplice checks that the Anthropic passthrough's splice at
// the model position found while decoding matches jsonraw.Set.
func TestPassthroughSplice(t *testing.T) {
	t.Parallel()
	bench, err := os.ReadFile("testdata/bench/claude_code_request.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := NewAnthropic(AnthropicOptions{})
	for _, body := range []string{
		string(bench),
		`{"max_tokens":5, "model" :  "claude-x" ,"messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"model":"caf\u00e9 \"q\""}`,
	} {
		req, err := parseMessages([]byte(body), false)
		if err != nil {
			t.Fatal(err)
		}
		if !req.rawModel.in([]byte(body)) && req.rawModel.end == 0 {
			t.Fatalf("no model position recorded for %.60s", body)
		}
		req.Raw = req.rawModel.doc
		req.Model = "routed/model-ü"
		spliced, err := tr.TransformRequest(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		req.rawModel = rawSpan{}
		set, err := tr.TransformRequest(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(spliced.Body, set.Body) {
			t.Errorf("splice = %.200s\nSet = %.200s", spliced.Body, set.Body)
		}
		if !bytes.Contains(spliced.Body, []byte(`"model":"routed/model-ü"`)) && !bytes.Contains(spliced.Body, []byte(`"model" :  "routed/model-ü"`)) {
			t.Errorf("routed model missing: %.200s", spliced.Body)
		}
	}
}

// checkFastResponse decodes b on the response fast path and, if that
// succeeded, checks it against encoding/json.
func checkFastResponse(t *testing.T, b []byte) bool {
	t.Helper()
	var fast Response
	if fast.decodeFast(bytes.Clone(b)) != nil {
		return false
	}
	var ref Response
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("fast path accepted %q; encoding/json fails: %v", b, err)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fast path decoded %q as %#v; encoding/json as %#v", b, fast, ref)
	}
	return true
}

func TestDecodeResponseFast(t *testing.T) {
	t.Parallel()
	bench, err := os.ReadFile("testdata/bench/anthropic_message.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body string
		fast bool
	}{
		{string(bench), true},
		{`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"service_tier":"standard","server_tool_use":{"web_search_requests":1}}}`, true},
		{`{"content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{"q":"x"}},{"type":"web_search_tool_result","tool_use_id":"s","content":[{"type":"web_search_result","url":"u"}]},{"type":"thinking","thinking":"t","signature":"s"}],"stop_sequence":"END","container":{"id":"c"}}`, true},
		{`{"content":null,"usage":null,"stop_reason":null}`, true},
		{`{}`, true},
		{`{"usage":{"input_tokens":1.5}}`, false},
		{`{"content":"text"}`, false},
		{`{"Content":[]}`, false},
		{`{"id":"a","id":"b"}`, false},
		{`{"usage":{"input_tokens":1,"input_tokens":2}}`, false},
		{`{"content":[null]}`, false},
		{`{"stop_sequence":5}`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		if got := checkFastResponse(t, []byte(tt.body)); got != tt.fast {
			t.Errorf("fast path for %.80s = %v; want %v", tt.body, got, tt.fast)
		}
		var got, ref Response
		gerr := decodeResponse([]byte(tt.body), &got)
		rerr := json.Unmarshal([]byte(tt.body), &ref)
		if (gerr == nil) != (rerr == nil) || gerr == nil && !reflect.DeepEqual(got, ref) {
			t.Errorf("decodeResponse(%.80s) = %v, %v; want %v, %v", tt.body, got, gerr, ref, rerr)
		}
	}
}

// FuzzDecodeResponse pins the fast response decoder to encoding/json.
func FuzzDecodeResponse(f *testing.F) {
	if b, err := os.ReadFile("testdata/bench/anthropic_message.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"content":[{"type":"text","text":"a"}],"stop_sequence":null,"usage":{"input_tokens":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastResponse(t, b)
	})
}

// TestStreamViewHoldsNoBody checks that a stream's view of a decoded
// request keeps no reference into the body: a thousand open streams must
// not hold a thousand bodies.
func TestStreamViewHoldsNoBody(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("testdata/bench/claude_code_request.json")
	if err != nil {
		t.Fatal(err)
	}
	req, err := parseMessages(body, false)
	if err != nil {
		t.Fatal(err)
	}
	req.Raw = body
	v := streamView(req)
	if len(v.Tools) != len(req.Tools) || v.Model != req.Model || v.Stream != req.Stream {
		t.Fatalf("stream view lost routing fields: %+v", v)
	}
	lo, hi := reflect.ValueOf(&body[0]).Pointer(), reflect.ValueOf(&body[len(body)-1]).Pointer()
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !rv.IsNil() {
				walk(rv.Elem(), path)
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				walk(rv.Field(i), path+"."+rv.Type().Field(i).Name)
			}
		case reflect.Slice:
			if rv.Len() == 0 {
				return
			}
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				if p := rv.Index(0).Addr().Pointer(); p >= lo && p <= hi {
					t.Errorf("%s points into the body", path)
				}
				return
			}
			for i := range rv.Len() {
				walk(rv.Index(i), path)
			}
		case reflect.Map:
			for _, k := range rv.MapKeys() {
				walk(rv.MapIndex(k), path+"["+k.String()+"]")
			}
		}
	}
	walk(reflect.ValueOf(v).Elem(), "req")
}
