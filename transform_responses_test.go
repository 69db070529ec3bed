package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testResponses returns the Responses transformer built through its
// TransformerDef with options, with counting ids so goldens are stable.
func testResponses(t *testing.T, options json.RawMessage) *responses {
	t.Helper()
	var c Chain
	if err := DefaultTransformers()["openai-responses"].Apply(&c, options); err != nil {
		t.Fatal(err)
	}
	r, ok := c.Format.(*responses)
	if !ok {
		t.Fatalf("Format = %T", c.Format)
	}
	r.newID = countingIDs()
	return r
}

// rsTestRequest is the request stream and response cases are answers to.
func rsTestRequest() *Request {
	schema := json.RawMessage(`{"type":"object"}`)
	return &Request{Model: "gpt-5", ClientModel: "claude-sonnet-4-5", MaxTokens: 1000, Stream: true,
		Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}},
		Tools: []Tool{{Name: "Bash", InputSchema: schema}, {Name: "Read", InputSchema: schema}, {Name: "Grep", InputSchema: schema},
			{Name: "mcp__srv__do.thing", InputSchema: schema}}}
}

func TestResponsesRequest(t *testing.T) {
	forEachCase(t, filepath.Join("testdata", "responses", "request", "*"), func(t *testing.T, dir string) {
		var req Request
		if err := json.Unmarshal(readFile(t, filepath.Join(dir, "request.json")), &req); err != nil {
			t.Fatal(err)
		}
		tr := testResponses(t, readOptional(t, filepath.Join(dir, "options.json")))
		up, err := tr.TransformRequest(t.Context(), &req)
		if err != nil {
			t.Fatal(err)
		}
		if up.Path != "" || up.URL != "" || up.Stream != (req.Stream || tr.opts.AlwaysStream) || up.Auth != "" {
			t.Errorf("upstream request %+v: want the base URL as is, bearer auth, stream %v", up, req.Stream)
		}
		checkGolden(t, filepath.Join(dir, "upstream.golden.json"), indentJSON(t, up.Body))
	})
}

func TestResponsesResponse(t *testing.T) {
	forEachCase(t, filepath.Join("testdata", "responses", "response", "*"), func(t *testing.T, dir string) {
		tr := testResponses(t, nil)
		resp, err := tr.TransformResponse(t.Context(), rsTestRequest(), readFile(t, filepath.Join(dir, "upstream.json")))
		var got []byte
		if err != nil {
			got = []byte(errorLine(err) + "\n")
		} else {
			b, _ := marshalNoEscape(resp)
			got = indentJSON(t, b)
		}
		checkGolden(t, filepath.Join(dir, "response.golden.txt"), got)
	})
}

func errorLine(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return fmt.Sprintf("ERROR %d %s: %s", e.status(), e.typ(), e.Message)
	}
	if errors.Is(err, ErrTruncated) {
		return "ERROR truncated: " + err.Error()
	}
	return "ERROR " + err.Error()
}

// TestResponsesStream converts every upstream transcript in every read
// variant, checks the stream invariants, and compares with the golden
// transcript (an error that ends the stream is its last line).
func TestResponsesStream(t *testing.T) {
	forEachCase(t, filepath.Join("testdata", "responses", "stream", "*"), func(t *testing.T, dir string) {
		checkStreamVariants(t, streamRules{}, readFile(t, filepath.Join(dir, "upstream.sse")), filepath.Join(dir, "stream.golden.sse"),
			func(src EventReader) EventReader {
				return testResponses(t, nil).TransformStream(t.Context(), rsTestRequest(), src)
			},
			func(evs []Event, err error) []byte {
				out := eventsSSE(evs)
				if err != nil {
					out = append(out, errorLine(err)+"\n"...)
				}
				return out
			})
	})
}

// TestResponsesStreamErrorsBeforeContent checks that an upstream failure
// reported before any content becomes an error before any event, so that
// the client gets a real HTTP status.
func TestResponsesStreamErrorsBeforeContent(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
	}{{"failed", 500}, {"error-event", 400}} {
		in := readFile(t, filepath.Join("testdata", "responses", "stream", c.name, "upstream.sse"))
		tr := testResponses(t, nil)
		s := tr.TransformStream(t.Context(), rsTestRequest(), NewSSEReader(bytes.NewReader(in)))
		_, err := s.ReadEvent()
		var e *Error
		if !errors.As(err, &e) || e.status() != c.status {
			t.Errorf("%s: first ReadEvent error = %v, want *Error with status %d", c.name, err, c.status)
		}
		if _, err2 := s.ReadEvent(); err2 != err {
			t.Errorf("%s: second ReadEvent = %v, want the same error", c.name, err2)
		}
	}
}

// TestResponsesReasoningRoundTrip checks that reasoning streamed by the
// Responses API, sent back by the client as the thinking block it became,
// reaches the API again as a reasoning item with its encrypted content.
func TestResponsesReasoningRoundTrip(t *testing.T) {
	in := readFile(t, filepath.Join("testdata", "responses", "stream", "reasoning", "upstream.sse"))
	tr := testResponses(t, nil)
	events, err := readEvents(tr.TransformStream(t.Context(), rsTestRequest(), NewSSEReader(bytes.NewReader(in))))
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild the assistant turn the way a client accumulates it.
	blocks, _ := accumulate(t, events)
	req := &Request{Model: "gpt-5", MaxTokens: 100, Messages: []Message{
		{Role: "user", Content: Content{{Type: "text", Text: "hi"}}},
		{Role: "assistant", Content: blocks},
		{Role: "user", Content: Content{{Type: "text", Text: "again"}}},
	}}
	up, err := tr.TransformRequest(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Input   []json.RawMessage `json:"input"`
		Include []string          `json:"include"`
		Store   *bool             `json:"store"`
	}
	if err := json.Unmarshal(up.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"reasoning","summary":[{"type":"summary_text","text":"**Planning**\n\nThe user wants a greeting.\n\n**Answering**"}],"encrypted_content":"gAAAAABenc1=="}`
	if len(body.Input) != 4 || string(body.Input[1]) != want {
		t.Errorf("input = %s\nwant item 1 = %s", body.Input, want)
	}
	if len(body.Include) != 1 || body.Include[0] != "reasoning.encrypted_content" || body.Store == nil || *body.Store {
		t.Errorf("include %v, store %v: want encrypted content asked for, store false", body.Include, body.Store)
	}
	// The same thinking block sent to Anthropic is dropped there.
	if !hasRouterThinking(req) {
		t.Error("Responses thinking not recognised as the router's: Anthropic would get a foreign signature")
	}
}

func TestResponsesMinOutputTokens(t *testing.T) {
	tr := testResponses(t, nil)
	for max, want := range map[int]string{1: `"max_output_tokens":16`, 16: `"max_output_tokens":16`, 5000: `"max_output_tokens":5000`} {
		up, err := tr.TransformRequest(t.Context(), &Request{Model: "m", MaxTokens: max, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "x"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(up.Body), want) {
			t.Errorf("max_tokens %d: body %s, want %s", max, up.Body, want)
		}
	}
}

func TestResponsesError(t *testing.T) {
	tr := testResponses(t, nil)
	for _, c := range []struct {
		status int
		body   string
		want   int
	}{
		{429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, 429},
		{400, `{"error":{"message":"Unsupported parameter: 'temperature'","type":"invalid_request_error","param":"temperature","code":"unsupported_parameter"}}`, 400},
		{503, `upstream unavailable`, 529},
		{401, `{"error":{"message":"Incorrect API key provided"}}`, 401},
	} {
		e := tr.TransformError(c.status, nil, []byte(c.body))
		if e == nil || e.status() != c.want || e.Message == "" {
			t.Errorf("TransformError(%d, %s) = %+v, want status %d", c.status, c.body, e, c.want)
		}
	}
}

// FuzzResponsesStream feeds arbitrary upstream bytes: the converter must
// not panic, must keep the hub invariants, and must end.
//
// Runs of this target spend most of a short -fuzztime minimising: the
// fuzzer stops to minimise every input that found new coverage, by an
// O(n²) pass over its bytes, and coverage that flickers between runs
// (allocation-dependent paths in the standard library) can make that pass
// find nothing to keep, so it runs in full (12 s and more for a mutant of
// a 2-4 KB transcript). -fuzzminimizetime bounds it.
func FuzzResponsesStream(f *testing.F) {
	for _, name := range []string{"text", "reasoning", "parallel-calls-interleaved", "args-only-in-done", "failed-after-text"} {
		if b := readOptional(f, filepath.Join("testdata", "responses", "stream", name, "upstream.sse")); b != nil {
			f.Add(b)
		}
	}
	tr, req := NewOpenAIResponses(ResponsesOptions{}), rsTestRequest()
	f.Fuzz(func(t *testing.T, in []byte) {
		events, err := readEvents(tr.TransformStream(t.Context(), req, NewSSEReader(bytes.NewReader(in))))
		if p := (streamRules{}).problems(events, err); p != nil {
			t.Fatalf("%v\n%s", p, eventsSSE(events))
		}
	})
}

// TestResponsesThroughRouter serves a fake Responses API on loopback to a
// Router with an openai-responses provider. The fake keeps the rules of
// store:false: the request goes to api_base_url as is, with a bearer key;
// a reasoning item sent back must carry its encrypted content and no id.
// Turn 1 streams reasoning and a function call; turn 2 sends them back
// and gets the answer, as a stream and as JSON.
func TestResponsesThroughRouter(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		fail := func(msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":"input","code":null}}`, msg)
		}
		if r.URL.Path != "/v1/responses" || r.Header.Get("Authorization") != "Bearer sk-oai" {
			fail("wrong path or key: " + r.URL.Path)
			return
		}
		var req struct {
			Store   *bool                        `json:"store"`
			Stream  bool                         `json:"stream"`
			Include []string                     `json:"include"`
			Input   []map[string]json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(b, &req); err != nil || req.Store == nil || *req.Store {
			fail("store must be false")
			return
		}
		outputs := 0
		for _, it := range req.Input {
			var typ string
			json.Unmarshal(it["type"], &typ)
			switch typ {
			case "reasoning":
				if _, ok := it["id"]; ok {
					fail("Item with id not found. Items are not persisted when `store` is set to false.")
					return
				}
				if string(it["encrypted_content"]) != `"gAAAAB-enc-1"` {
					fail("reasoning item without its encrypted content")
					return
				}
			case "function_call_output":
				outputs++
			}
		}
		var sse string
		if outputs == 0 {
			sse = string(readFile(t, "testdata/responses/stream/reasoning-encrypted-only/upstream.sse"))
			sse = strings.ReplaceAll(sse, "gAAAAABenc2==", "gAAAAB-enc-1")
		} else {
			sse = string(readFile(t, "testdata/responses/stream/text/upstream.sse"))
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			if outputs == 0 {
				io.WriteString(w, `{"id":"resp_1","object":"response","status":"completed","output":[{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAAB-enc-1"},{"type":"function_call","id":"fc_1","call_id":"call_A","name":"Bash","arguments":"{\"command\":\"ls\"}"}],"usage":{"input_tokens":10,"output_tokens":5}}`)
			} else {
				io.WriteString(w, `{"id":"resp_2","object":"response","status":"completed","output":[{"type":"message","id":"m_1","role":"assistant","content":[{"type":"output_text","text":"Hello, world!"}]}],"usage":{"input_tokens":10,"output_tokens":5}}`)
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, frame := range strings.SplitAfter(sse, "\n\n") {
			io.WriteString(w, frame)
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()

	rt, err := newTestRouter(t, `{"APIKEY":"client-key","Providers":[{"name":"oai","api_base_url":"`+srv.URL+`/v1/responses","api_key":"sk-oai",
		"models":["gpt-5"],"transformer":{"use":[["openai-responses",{"summary":"detailed"}]]}}],"Router":{"default":"oai,gpt-5"}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hdr := map[string]string{"x-api-key": "client-key"}
	tools := `[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}]`
	first := `{"role":"user","content":"list files"}`
	for _, stream := range []bool{true, false} {
		s := fmt.Sprint(stream)
		w := post(t, rt, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":`+s+`,"thinking":{"type":"adaptive"},"tools":`+tools+`,"messages":[`+first+`]}`, hdr)
		if w.Code != 200 {
			t.Fatalf("stream=%v turn 1: %d %s", stream, w.Code, w.Body)
		}
		blocks, _ := answerContent(t, stream, w.Body.Bytes())
		if !stream {
			var resp Response
			json.Unmarshal(w.Body.Bytes(), &resp)
			if resp.Model != "claude-sonnet-4-5" {
				t.Errorf("model %q, want the client's", resp.Model)
			}
		}
		if len(blocks) != 2 || blocks[0].Signature != "rtr.oair.gAAAAB-enc-1" || blocks[1].ID != "call_A" {
			t.Fatalf("stream=%v turn 1 blocks: %+v", stream, blocks)
		}
		assistant, _ := json.Marshal(Message{Role: "assistant", Content: blocks})
		second := `{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":` + s + `,"thinking":{"type":"adaptive"},"tools":` + tools + `,"messages":[` + first + `,` + string(assistant) +
			`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_A","content":"a.go"}]}]}`
		w = post(t, rt, "/v1/messages", second, hdr)
		if w.Code != 200 {
			t.Fatalf("stream=%v turn 2: %d %s", stream, w.Code, w.Body)
		}
		blocks, _ = answerContent(t, stream, w.Body.Bytes())
		if len(blocks) != 1 || blocks[0].Text != "Hello, world!" {
			t.Errorf("stream=%v turn 2 answer: %s", stream, w.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(string(bodies[0]), `"summary":"detailed"`) {
		t.Errorf("the summary option did not reach the upstream: %s", bodies[0])
	}
}

// TestResponsesAlwaysStream serves a stream-only endpoint (issue #932 of
// the reference: "Stream must be set to true"): with always_stream a
// non-streaming client still gets one JSON message.
func TestResponsesAlwaysStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"detail":"Stream must be set to true"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, string(readFile(t, "testdata/responses/stream/text/upstream.sse")))
	}))
	defer srv.Close()
	for _, opts := range []string{`{"always_stream":true}`, `{}`} {
		rt, err := newTestRouter(t, `{"APIKEY":"k","Providers":[{"name":"codex","api_base_url":"`+srv.URL+`/backend-api/codex/responses","api_key":"t",
			"transformer":{"use":[["openai-responses",`+opts+`]]}}],"Router":{"default":"codex,gpt-5-codex"}}`)
		if err != nil {
			t.Fatal(err)
		}
		w := post(t, rt, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-api-key": "k"})
		rt.Close()
		var resp Response
		json.Unmarshal(w.Body.Bytes(), &resp)
		switch opts {
		case `{}`:
			if w.Code != 400 || !strings.Contains(w.Body.String(), "Stream must be set to true") {
				t.Errorf("without always_stream: %d %s; want the upstream's 400", w.Code, w.Body)
			}
		default:
			if w.Code != 200 || len(resp.Content) != 1 || resp.Content[0].Text != "Hello, world!" || resp.StopReason != "end_turn" {
				t.Errorf("with always_stream: %d %s", w.Code, w.Body)
			}
		}
	}
}

// BenchmarkResponsesStreamManyItems converts a stream of 20,000 message
// items, each announced, streamed and done in turn. Promoting the next
// item used to rescan every earlier one: quadratic, 15 s for 64,000 items
// where it now takes half a second.
func BenchmarkResponsesStreamManyItems(b *testing.B) {
	var in bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&in, "data: {\"type\":\"response.output_item.added\",\"output_index\":%d,\"item\":{\"type\":\"message\",\"id\":\"m%d\"}}\n\n", i, i)
		fmt.Fprintf(&in, "data: {\"type\":\"response.output_text.delta\",\"output_index\":%d,\"item_id\":\"m%d\",\"delta\":\"x\"}\n\n", i, i)
		fmt.Fprintf(&in, "data: {\"type\":\"response.output_item.done\",\"output_index\":%d,\"item\":{\"type\":\"message\",\"id\":\"m%d\"}}\n\n", i, i)
	}
	in.WriteString("data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n")
	tr := NewOpenAIResponses(ResponsesOptions{})
	b.SetBytes(int64(in.Len()))
	b.ReportAllocs()
	for b.Loop() {
		evs, err := readEvents(tr.TransformStream(b.Context(), rsTestRequest(), NewSSEReader(bytes.NewReader(in.Bytes()))))
		if err != nil || len(evs) != 3*20000+3 {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
}
