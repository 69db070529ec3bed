package ccr

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestOAEncoderFields pins the fields of the Chat Completions request
// types: encodeOARequest writes each by hand, so a new field must be added
// there (and here) or it would be silently dropped.
func TestOAEncoderFields(t *testing.T) {
	t.Parallel()
	want := map[reflect.Type]string{
		reflect.TypeFor[oaRequest]():        "Model:model Messages:messages MaxTokens:max_tokens,omitempty MaxCompletionTokens:max_completion_tokens,omitempty Temperature:temperature,omitempty TopP:top_p,omitempty TopK:top_k,omitempty Stop:stop,omitempty Stream:stream,omitempty StreamOptions:stream_options,omitempty Tools:tools,omitempty ToolChoice:tool_choice,omitempty ParallelToolCalls:parallel_tool_calls,omitempty ReasoningEffort:reasoning_effort,omitempty Thinking:thinking,omitempty Reasoning:reasoning,omitempty ResponseFormat:response_format,omitempty",
		reflect.TypeFor[oaStreamOptions]():  "IncludeUsage:include_usage",
		reflect.TypeFor[oaThinking]():       "Type:type",
		reflect.TypeFor[oaReasoning]():      "MaxTokens:max_tokens,omitempty Effort:effort,omitempty Enabled:enabled,omitempty",
		reflect.TypeFor[oaResponseFormat](): "Type:type JSONSchema:json_schema",
		reflect.TypeFor[oaJSONSchema]():     "Name:name Schema:schema Strict:strict",
		reflect.TypeFor[oaMessage]():        "Role:role Content:content ReasoningContent:reasoning_content,omitempty ToolCalls:tool_calls,omitempty ToolCallID:tool_call_id,omitempty",
		reflect.TypeFor[oaContent]():        "kind: text: parts: enc: join:",
		reflect.TypeFor[oaPart]():           "Type:type Text:text,omitempty ImageURL:image_url,omitempty File:file,omitempty CacheControl:cache_control,omitempty",
		reflect.TypeFor[oaImageURL]():       "URL:url",
		reflect.TypeFor[oaFile]():           "Filename:filename FileData:file_data",
		reflect.TypeFor[oaToolCall]():       "ID:id Type:type Function:function",
		reflect.TypeFor[oaFunctionCall]():   "Name:name Arguments:arguments",
		reflect.TypeFor[oaTool]():           "Type:type Function:function",
		reflect.TypeFor[oaFunction]():       "Name:name Description:description,omitempty Parameters:parameters Strict:strict,omitempty",
		reflect.TypeFor[oaToolChoice]():     "mode: name:",
	}
	for typ, w := range want {
		var got []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			got = append(got, f.Name+":"+f.Tag.Get("json"))
		}
		if g := strings.Join(got, " "); g != w {
			t.Errorf("%s fields changed: update encodeOARequest, then this test\ngot  %s\nwant %s", typ.Name(), g, w)
		}
	}
}

func checkOAEncoding(t *testing.T, r *oaRequest) {
	t.Helper()
	want, werr := marshalNoEscape(r)
	got, gerr := encodeOARequest(r)
	if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeOARequest = %s, %v\nmarshalNoEscape = %s, %v", got, gerr, want, werr)
	}
}

func TestOAEncoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	s := func(v string) *string { return &v }
	full := &oaRequest{
		Model: "m<&>\u2028", MaxTokens: 10, MaxCompletionTokens: 20, Temperature: f(0.7), TopP: f(1e-7), TopK: i(-3),
		Stop: []string{"a", "\n"}, Stream: true, StreamOptions: &oaStreamOptions{IncludeUsage: true},
		Tools: []oaTool{
			{Type: "function", Function: oaFunction{Name: "n", Description: "d\x01", Parameters: json.RawMessage(" {\"a\" : [1, 2]}\n"), Strict: true}},
			{Type: "function", Function: oaFunction{Name: "empty"}},
		},
		ToolChoice: &oaToolChoice{name: "n"}, ParallelToolCalls: b(false), ReasoningEffort: "high",
		Thinking: &oaThinking{Type: "enabled"}, Reasoning: &oaReasoning{MaxTokens: 5, Effort: "low", Enabled: b(true)},
		ResponseFormat: &oaResponseFormat{Type: "json_schema", JSONSchema: oaJSONSchema{Name: "x", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}},
		Messages: []oaMessage{
			{Role: "system", Content: textContent("sys \xff")},
			{Role: "user", Content: partsContent([]oaPart{
				{Type: "text", Text: "hi", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
				{Type: "image_url", ImageURL: &oaImageURL{URL: "data:image/png;base64,AAAA"}},
				{Type: "file", File: &oaFile{Filename: "a.pdf", FileData: "data:..."}},
			})},
			{Role: "assistant", Content: oaContent{}, ReasoningContent: s(""), ToolCalls: []oaToolCall{{ID: "c", Type: "function", Function: oaFunctionCall{Name: "n", Arguments: `{"x":"\"y\""}`}}}},
			{Role: "tool", Content: textContent(""), ToolCallID: "c"},
			{Role: "user", Content: partsContent(nil)},
			{Role: "user", Content: partsContent([]oaPart{})},
		},
	}
	for _, r := range []*oaRequest{
		{},
		{Model: "m", Messages: []oaMessage{}},
		{ToolChoice: &oaToolChoice{mode: "auto"}, Reasoning: &oaReasoning{}},
		full,
		{Temperature: f(math.NaN())},
		{Tools: []oaTool{{Function: oaFunction{Parameters: json.RawMessage(`{bad`)}}}},
		{Tools: []oaTool{{Function: oaFunction{Parameters: json.RawMessage{}}}}},
		{Messages: []oaMessage{{Content: partsContent([]oaPart{{CacheControl: json.RawMessage(`[1,]`)}})}}},
	} {
		checkOAEncoding(t, r)
	}
}

// FuzzOAEncoder pins encodeOARequest to encoding/json on requests built
// from the fuzzer's text and numbers.
func FuzzOAEncoder(f *testing.F) {
	f.Add("text", `{"type":"object"}`, 0.5, 7, uint8(0xff))
	f.Add("a\x00\u2028\xff", " [ 1 , {\"a\" : null} ] ", 1e-9, -1, uint8(0x55))
	f.Fuzz(func(t *testing.T, text, raw string, x float64, n int, mask uint8) {
		on := func(bit uint8) bool { return mask&(1<<bit) != 0 }
		r := &oaRequest{Model: text, MaxTokens: n, Stop: []string{text}}
		if on(0) {
			r.Temperature = &x
		}
		if on(1) {
			r.Tools = []oaTool{{Type: "function", Function: oaFunction{Name: text, Description: text, Parameters: json.RawMessage(raw), Strict: on(2)}}}
		}
		if on(3) {
			r.ResponseFormat = &oaResponseFormat{Type: text, JSONSchema: oaJSONSchema{Schema: json.RawMessage(raw)}}
		}
		c := textContent(text)
		if on(4) {
			c = partsContent([]oaPart{{Type: "text", Text: text, CacheControl: json.RawMessage(raw)}})
		}
		r.Messages = []oaMessage{{Role: text, Content: c, ToolCallID: text}}
		if on(5) {
			r.Messages[0].ToolCalls = []oaToolCall{{ID: text, Type: "function", Function: oaFunctionCall{Name: text, Arguments: raw}}}
		}
		if on(6) {
			r.ToolChoice = &oaToolChoice{mode: text}
		}
		if on(7) {
			r.Reasoning = &oaReasoning{MaxTokens: n, Effort: text}
		}
		checkOAEncoding(t, r)
	})
}

// TestEncodeResponseFields pins the types encodeResponse and
// appendKnownBlock write by hand.
func TestEncodeResponseFields(t *testing.T) {
	t.Parallel()
	want := map[reflect.Type]string{
		reflect.TypeFor[Response](): "ID:id Type:type Role:role Model:model Content:content StopReason:stop_reason StopSequence:stop_sequence Usage:usage Raw:-",
		reflect.TypeFor[Usage]():    "InputTokens:input_tokens OutputTokens:output_tokens CacheCreationInputTokens:cache_creation_input_tokens CacheReadInputTokens:cache_read_input_tokens",
	}
	for typ, w := range want {
		var got []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			got = append(got, f.Name+":"+f.Tag.Get("json"))
		}
		if g := strings.Join(got, " "); g != w {
			t.Errorf("%s fields changed: update encodeResponse, then this test\ngot  %s\nwant %s", typ.Name(), g, w)
		}
	}
}

func checkResponseEncoding(t *testing.T, r *Response) {
	t.Helper()
	want, werr := marshalNoEscape(r)
	got, gerr := encodeResponse(r)
	if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeResponse = %s, %v\nmarshalNoEscape = %s, %v", got, gerr, want, werr)
	}
	for i := range r.Content {
		want, werr := marshalNoEscape(r.Content[i])
		got, gerr := r.Content[i].MarshalJSON()
		if werr == nil {
			var c bytes.Buffer
			json.Compact(&c, got)
			got = c.Bytes()
		}
		if werr == nil && gerr != nil || werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("MarshalJSON = %s, %v; encoding/json %s, %v", got, gerr, want, werr)
		}
	}
}

func TestEncodeResponse(t *testing.T) {
	t.Parallel()
	seq := "STOP\u2028"
	for _, r := range []*Response{
		{},
		{ID: "msg_1", Type: "message", Role: "assistant", Model: "m<>", StopReason: "stop_sequence", StopSequence: &seq,
			Usage: Usage{1, 2, 3, 4}, Content: []ContentBlock{
				{Type: "text", Text: "hi\n\xff", Citations: json.RawMessage(` [ {"a":1} ] `), CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
				{Type: "thinking", Thinking: "t", Signature: "s"},
				{Type: "tool_use", ID: "toolu_1", Name: "Edit"},
				{Type: "server_tool_use", ID: "s", Name: "web_search", Input: json.RawMessage(`{"q": "x"}`)},
				{Type: "redacted_thinking", Data: "abc"},
				{Type: "web_search_tool_result", ToolUseID: "s", Content: json.RawMessage(`[{"type":"web_search_result"}]`)},
				{Type: "container_upload", Raw: json.RawMessage(` {"type": "container_upload"} `)},
			}},
		{Content: []ContentBlock{}},
		{Content: []ContentBlock{{Type: "text", Citations: json.RawMessage(`[1,`)}}},
		{Content: []ContentBlock{{Type: "tool_use", Input: json.RawMessage(`nope`)}}},
		{Content: []ContentBlock{{Raw: json.RawMessage(`{"a"`)}}},
	} {
		checkResponseEncoding(t, r)
	}
}

// FuzzEncodeResponse pins encodeResponse to encoding/json.
func FuzzEncodeResponse(f *testing.F) {
	f.Add("text", "hello", `{"a":1}`, 3)
	f.Add("tool_use", "a\x00\u2029\xff", " [ 1 ] ", -1)
	f.Add("image", "x", `{`, 0)
	f.Fuzz(func(t *testing.T, typ, text, raw string, n int) {
		r := &Response{ID: text, Type: "message", Model: text, StopReason: text, Usage: Usage{n, n, n, n}, Content: []ContentBlock{
			{Type: typ, Text: text, Thinking: text, Signature: text, ID: text, Name: text, Input: json.RawMessage(raw), Citations: json.RawMessage(raw)},
			{Type: "text", Text: text, CacheControl: json.RawMessage(raw)},
		}}
		if n%2 == 0 {
			r.StopSequence = &text
		}
		if n%3 == 0 {
			r.Content = append(r.Content, ContentBlock{Type: typ, Raw: json.RawMessage(raw)})
		}
		checkResponseEncoding(t, r)
	})
}

// TestOAChunkFields pins the chunk types decodeOAChunk decodes by hand.
func TestOAChunkFields(t *testing.T) {
	t.Parallel()
	want := map[reflect.Type]string{
		reflect.TypeFor[oaChunk]():                "ID:id Choices:choices Usage:usage Error:error",
		reflect.TypeFor[oaChoice]():               "FinishReason:finish_reason StopReason:stop_reason Message:message Delta:delta",
		reflect.TypeFor[oaDelta]():                "Content:content ReasoningContent:reasoning_content Reasoning:reasoning Refusal:refusal ToolCalls:tool_calls",
		reflect.TypeFor[oaToolCallPart]():         "Index:index ID:id Function:function",
		reflect.TypeOf(oaToolCallPart{}.Function): "Name:name Arguments:arguments",
	}
	for typ, w := range want {
		var got []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			got = append(got, f.Name+":"+f.Tag.Get("json"))
		}
		if g := strings.Join(got, " "); g != w {
			t.Errorf("%s fields changed: update decodeOAChunk, then this test\ngot  %s\nwant %s", typ, g, w)
		}
	}
}

// checkOAChunk decodes b on the fast path and, if it took it, compares the
// result with encoding/json's.
func checkOAChunk(t *testing.T, b []byte) bool {
	t.Helper()
	var fast oaChunk
	if fast.decodeFast(bytes.Clone(b)) != nil {
		return false
	}
	var ref oaChunk
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("fast path accepted %q; encoding/json fails: %v", b, err)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fast path decoded %q as %+v; encoding/json as %+v", b, fast, ref)
	}
	return true
}

// oaStreamChunks returns the data of every event in the OpenAI stream
// testdata.
func oaStreamChunks(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/openai/stream/*/upstream.sse")
	files = append(files, "testdata/bench/openai_200.sse")
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := readEventsMax(NewSSEReader(bytes.NewReader(b)), 1<<20)
		for _, ev := range evs {
			if d := bytes.TrimSpace(ev.Data); len(d) > 0 && d[0] == '{' {
				out = append(out, d)
			}
		}
	}
	return out
}

func TestDecodeOAChunk(t *testing.T) {
	t.Parallel()
	chunks := oaStreamChunks(t)
	if len(chunks) < 100 {
		t.Fatalf("only %d chunks in testdata", len(chunks))
	}
	for _, c := range chunks {
		if json.Valid(c) && !checkOAChunk(t, c) {
			t.Errorf("chunk not decoded on the fast path: %s", c)
		}
	}
	for _, tt := range []struct {
		chunk string
		fast  bool
	}{
		{`{"id":"x","choices":[{"index":0,"delta":{"content":null,"tool_calls":null},"finish_reason":null,"stop_reason":null}],"usage":null}`, true},
		{`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Edit","arguments":"{\"a\":"}}]}}]}`, true},
		{`{"choices":[{"message":{"content":"hi","refusal":null}}],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`, true},
		{`{"choices":[{"delta":{"tool_calls":[{"function":null}]}}]}`, true},
		{`{"error":{"message":"boom"}}`, true},
		{`{"choices":[],"usage":{"prompt_tokens":1}}`, true},
		{`{"choices":null}`, true},
		{`{"Choices":[]}`, false},
		{`{"choices":[null]}`, false},
		{`{"choices":[{"delta":{"tool_calls":[{"function":"x"}]}}]}`, false},
		{`{"choices":{}}`, false},
		{`{"usage":{"prompt_tokens":1.5}}`, false},
		{`{"id":"a","id":"b"}`, false},
		{`{"choices":[{"delta":{"content":"a"}}]} trailing`, false},
	} {
		if got := checkOAChunk(t, []byte(tt.chunk)); got != tt.fast {
			t.Errorf("fast path for %s = %v; want %v", tt.chunk, got, tt.fast)
		}
		var got, ref oaChunk
		gerr := decodeOAChunk([]byte(tt.chunk), &got)
		rerr := json.Unmarshal([]byte(tt.chunk), &ref)
		if (gerr == nil) != (rerr == nil) || gerr == nil && !reflect.DeepEqual(got, ref) {
			t.Errorf("decodeOAChunk(%s) = %+v, %v; want %+v, %v", tt.chunk, got, gerr, ref, rerr)
		}
	}
}

// FuzzDecodeOAChunk pins the chunk decoder to encoding/json.
func FuzzDecodeOAChunk(f *testing.F) {
	for i, c := range oaStreamChunks(f) {
		if i%8 == 0 {
			f.Add(c)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkOAChunk(t, b)
	})
}

// FuzzDeltaString pins eventBuilder.deltaString to the encoding of delta
// with the structs it replaced.
func FuzzDeltaString(f *testing.F) {
	f.Add("hello", 0)
	f.Add("a\x00\u2028\xff\"\\<>&", 12)
	f.Fuzz(func(t *testing.T, s string, idx int) {
		refs := []struct {
			typ, key string
			v        any
		}{
			{"text_delta", "text", struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}{"text_delta", s}},
			{"thinking_delta", "thinking", struct {
				Type     string `json:"type"`
				Thinking string `json:"thinking"`
			}{"thinking_delta", s}},
			{"input_json_delta", "partial_json", struct {
				Type        string `json:"type"`
				PartialJSON string `json:"partial_json"`
			}{"input_json_delta", s}},
		}
		for _, r := range refs {
			var fast, ref eventBuilder
			fast.openIdx, ref.openIdx = idx, idx
			fast.deltaString(r.typ, r.key, s)
			ref.delta(r.v)
			if !bytes.Equal(fast.pending[0].Data, ref.pending[0].Data) || fast.pending[0].Type != ref.pending[0].Type {
				t.Fatalf("deltaString = %s; delta = %s", fast.pending[0].Data, ref.pending[0].Data)
			}
		}
	})
}
