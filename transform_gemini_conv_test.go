package ccr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeGemini3 is a loopback Gemini API that, like Gemini 3, rejects a
// function call in history that does not carry the thought signature it
// issued with that call, and checks the function-response turn.
type fakeGemini3 struct {
	t      *testing.T
	mu     sync.Mutex
	issued map[string]string // signature → "name args" of the call it came with
	seen   []geminiRequest
}

func (f *fakeGemini3) fail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}})
	w.Write(b)
}

func (f *fakeGemini3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Goog-Api-Key") != "test-key" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`)
		return
	}
	stream := false
	switch {
	case r.URL.Path == "/v1beta/models/gemini-3-pro-preview:generateContent":
	case r.URL.Path == "/v1beta/models/gemini-3-pro-preview:streamGenerateContent" && r.URL.Query().Get("alt") == "sse":
		stream = true
	default:
		http.NotFound(w, r)
		return
	}
	var req geminiRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.fail(w, "Invalid JSON payload received.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, req)
	modelTurns := 0
	for i, c := range req.Contents {
		if len(c.Parts) == 0 {
			f.fail(w, "contents.parts must not be empty")
			return
		}
		if c.Role != "model" {
			continue
		}
		modelTurns++
		var calls []*geminiFunctionCall
		for j, p := range c.Parts {
			if p.FunctionCall == nil {
				continue
			}
			if len(calls) == 0 {
				key, ok := f.issued[p.ThoughtSignature]
				switch {
				case p.ThoughtSignature == "":
					f.fail(w, fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.FunctionCall.Name, j+1))
					return
				case !ok:
					f.fail(w, "Corrupted thought signature.")
					return
				case key != p.FunctionCall.Name+" "+string(p.FunctionCall.Args):
					f.fail(w, "Thought signature does not match the function call.")
					return
				}
			}
			calls = append(calls, p.FunctionCall)
		}
		if len(calls) == 0 {
			continue
		}
		if i+1 >= len(req.Contents) || req.Contents[i+1].Role != "user" {
			f.fail(w, "Please ensure that function call turn comes immediately after a user turn or after a function response turn.")
			return
		}
		next := req.Contents[i+1].Parts
		if len(next) < len(calls) {
			f.fail(w, "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
			return
		}
		for k, call := range calls {
			fr := next[k].FunctionResponse
			if fr == nil || fr.Name != call.Name || fr.Response.Output == nil || *fr.Response.Output != "result of "+call.Name+" "+string(call.Args) {
				f.fail(w, "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
				return
			}
		}
	}

	var chunks []string
	switch modelTurns {
	case 0:
		f.issued["CiQB+/VA/x=="] = `Read {"file_path":"/a"}`
		chunks = []string{
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"Reading both files.","thought":true}]}}],"responseId":"t1"}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"Read","args":{"file_path":"/a"}},"thoughtSignature":"CiQB+/VA/x=="},{"functionCall":{"name":"Read","args":{"file_path":"/b"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":12,"thoughtsTokenCount":4},"responseId":"t1"}`,
		}
	case 1:
		f.issued["Zm9vYmFy+++/"] = `Bash {"command":"wc -l /a /b"}`
		chunks = []string{
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"Counting lines."},{"functionCall":{"name":"Bash","args":{"command":"wc -l /a /b"}},"thoughtSignature":"Zm9vYmFy+++/"}]},"finishReason":"STOP"}],"responseId":"t2"}`,
		}
	default:
		chunks = []string{
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"All "}]}}],"responseId":"t3"}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"done.","thoughtSignature":"dGV4dA=="}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":80,"candidatesTokenCount":3},"responseId":"t3"}`,
		}
	}
	if !stream {
		// Merge the chunks into one response, as generateContent would.
		var merged geminiResponse
		for _, c := range chunks {
			var r geminiResponse
			json.Unmarshal([]byte(c), &r)
			if len(merged.Candidates) == 0 {
				merged = r
				continue
			}
			merged.Candidates[0].Content.Parts = append(merged.Candidates[0].Content.Parts, r.Candidates[0].Content.Parts...)
			merged.Candidates[0].FinishReason = r.Candidates[0].FinishReason
			merged.UsageMetadata = r.UsageMetadata
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(merged)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for _, c := range chunks {
		io.WriteString(w, "data: "+c+"\r\n\r\n")
		rc.Flush()
	}
}

// TestGeminiMultiTurnThoughtSignatures drives the transformer through a
// three-turn tool conversation against a fake Gemini 3 that enforces
// thought signatures: the signatures it issues must come back with the
// calls on the next turns.
func TestGeminiMultiTurnThoughtSignatures(t *testing.T) {
	fake := &fakeGemini3{t: t, issued: map[string]string{}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	base := srv.URL + "/v1beta/models/"
	g := newGemini(GeminiOptions{}, "gemini")
	tools := []Tool{
		{Name: "Read", InputSchema: json.RawMessage(`{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}`)},
		{Name: "Bash", InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`)},
	}
	post := func(up *UpstreamRequest, key string) *http.Response {
		t.Helper()
		hr, err := http.NewRequestWithContext(t.Context(), http.MethodPost, joinURL(base, up.Path), bytes.NewReader(up.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range up.Header {
			hr.Header[k] = v
		}
		hr.Header.Set("X-Goog-Api-Key", key)
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	newReq := func(history []Message, stream bool) *Request {
		return &Request{Model: "gemini-3-pro-preview", ClientModel: "gemini,gemini-3-pro-preview", MaxTokens: 4096,
			Stream: stream, Tools: tools, Messages: history}
	}

	history := []Message{{Role: "user", Content: Content{{Type: "text", Text: "How many lines do /a and /b have?"}}}}
	var afterTurn1 []Message
	wantStops := []string{"tool_use", "tool_use", "end_turn"}
	for turn, stream := range []bool{true, false, true} {
		req := newReq(history, stream)
		up, err := g.TransformRequest(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		resp := post(up, "test-key")
		var blocks []ContentBlock
		var stop string
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("turn %d: %v", turn, g.TransformError(resp.StatusCode, resp.Header, body))
		}
		if stream {
			evs, err := convertStream(t, g, req, resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("turn %d: stream: %v", turn, err)
			}
			if err := checkStream(evs, false); err != nil {
				t.Fatalf("turn %d: %v", turn, err)
			}
			blocks, stop = accumulate(t, evs)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r, err := g.TransformResponse(t.Context(), req, body)
			if err != nil {
				t.Fatalf("turn %d: %v", turn, err)
			}
			blocks, stop = r.Content, r.StopReason
		}
		if stop != wantStops[turn] {
			t.Fatalf("turn %d: stop_reason %q; want %q", turn, stop, wantStops[turn])
		}
		history = append(history, Message{Role: "assistant", Content: blocks})
		var results Content
		for _, b := range blocks {
			if b.Type == "tool_use" {
				results = append(results, ContentBlock{Type: "tool_result", ToolUseID: b.ID,
					Content: mustJSON("result of " + b.Name + " " + string(b.Input))})
			}
		}
		if len(results) > 0 {
			history = append(history, Message{Role: "user", Content: results})
		}
		if turn == 0 {
			if len(blocks) != 3 || blocks[0].Type != "thinking" || !strings.Contains(blocks[1].ID, "__tsig_") || strings.Contains(blocks[2].ID, "__tsig_") {
				t.Fatalf("turn 0 blocks = %+v", blocks)
			}
			afterTurn1 = append([]Message(nil), history...)
		}
		if turn == 2 && (len(blocks) != 1 || blocks[0].Text != "All done.") {
			t.Fatalf("final blocks = %+v", blocks)
		}
	}
	if len(fake.seen) != 3 {
		t.Fatalf("upstream saw %d requests", len(fake.seen))
	}

	// The same history with the signatures stripped from the ids (a client
	// that lost them) is rejected by the fake, and the rejection reaches
	// the client as a 400 with Gemini's message: the check is real.
	stripped := make([]Message, len(afterTurn1))
	for i, m := range afterTurn1 {
		c := append(Content(nil), m.Content...)
		for j := range c {
			if base, _ := geminiSplitToolID(c[j].ID); c[j].ID != "" {
				c[j].ID = base
			}
			if base, _ := geminiSplitToolID(c[j].ToolUseID); c[j].ToolUseID != "" {
				c[j].ToolUseID = base
			}
		}
		stripped[i] = Message{Role: m.Role, Content: c}
	}
	req := newReq(stripped, false)
	req.Model = "gemini-3-pro-preview"
	up, err := g.TransformRequest(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(up, "test-key")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("fake accepted a history without signatures (it sent %s)", up.Body)
	}
	e := g.TransformError(resp.StatusCode, resp.Header, body)
	if e.status() != 400 || e.typ() != "invalid_request_error" || !strings.Contains(e.Message, "Corrupted thought signature") {
		t.Errorf("stripped history: %d %s %q", e.status(), e.typ(), e.Message)
	}

	// A wrong key is reported to the client as an authentication error.
	up, _ = g.TransformRequest(t.Context(), newReq(history[:1], false))
	resp = post(up, "wrong")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if e := g.TransformError(resp.StatusCode, resp.Header, body); e.status() != 401 || e.typ() != "authentication_error" {
		t.Errorf("bad key: %d %s", e.status(), e.typ())
	}
}

// TestGeminiThroughRouter runs the gemini and vertex-gemini transformers
// inside a Router configured the way a user's config.json does it.
func TestGeminiThroughRouter(t *testing.T) {
	fake := &fakeGemini3{t: t, issued: map[string]string{}}
	gsrv := httptest.NewServer(fake)
	t.Cleanup(gsrv.Close)

	tokens := newFakeTokenServer(t)
	credPath := writeCreds(t, tokens)
	var vertexAuth []string
	var vmu sync.Mutex
	vsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vmu.Lock()
		vertexAuth = append(vertexAuth, r.Header.Get("Authorization")+" "+r.Header.Get("X-Goog-Api-Key"))
		vmu.Unlock()
		if r.URL.Path != "/v1beta1/projects/proj-from-key/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent" || r.URL.RawQuery != "alt=sse" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"from vertex\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n")
	}))
	t.Cleanup(vsrv.Close)

	cfg := Config{
		Providers: []ProviderConfig{
			{Name: "gemini", BaseURL: gsrv.URL + "/v1beta/models/", APIKeys: []Secret{"test-key"}, Use: []TransformerUse{{Name: "gemini"}}},
			{Name: "badkey", BaseURL: gsrv.URL + "/v1beta/models/", APIKeys: []Secret{"wrong-key"}, Use: []TransformerUse{{Name: "gemini"}}},
			{Name: "vertex", BaseURL: vsrv.URL, APIKeys: []Secret{"unused"}, Use: []TransformerUse{{Name: "vertex-gemini", Options: json.RawMessage(`{"schema_mode":"jsonschema"}`)}}},
		},
		Router: Routes{Default: "gemini,gemini-3-pro-preview"},
		APIKey: "client-key",
		Logger: testLogger(t),
		Env:    envMap(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": credPath}),
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"x-api-key": "client-key"}

	w := post(t, rt, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"tools":[{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}],"messages":[{"role":"user","content":"read /a and /b"}]}`, hdr)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", w.Code, w.Body)
	}
	blocks, stop := collectStream(t, w.Body.Bytes())
	if stop != "tool_use" || len(blocks) != 3 || !strings.Contains(blocks[1].ID, "__tsig_") {
		t.Fatalf("stream through router: stop %q, blocks %+v", stop, blocks)
	}
	if evs := sseBodyEvents(t, w.Body.Bytes()); !strings.Contains(string(evs[0].Data), `"model":"claude-sonnet-4-5"`) {
		t.Errorf("message_start does not echo the client's model: %s", evs[0].Data)
	}

	w = post(t, rt, "/v1/messages", `{"model":"badkey,gemini-3-pro-preview","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, hdr)
	if w.Code != 401 || !strings.Contains(w.Body.String(), `"authentication_error"`) {
		t.Errorf("bad upstream key: %d %s", w.Code, w.Body)
	}

	for i := 0; i < 2; i++ {
		w = post(t, rt, "/v1/messages", `{"model":"vertex,gemini-2.5-flash","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, hdr)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "from vertex") {
			t.Fatalf("vertex: %d %s", w.Code, w.Body)
		}
	}
	vmu.Lock()
	defer vmu.Unlock()
	for _, a := range vertexAuth {
		if a != "Bearer tok-1 " {
			t.Errorf("vertex request auth = %q; want the service-account token and no API key", a)
		}
	}
	if n := tokens.calls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times for two requests", n)
	}
}
