package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// needProgram returns the path of an outside program the test needs. It
// skips the test when the program is missing, except under CI=true, where
// .ci/run has installed it and its absence is a failure.
func needProgram(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true (install: %s)", name, install)
	}
	t.Skipf("%s not found; install it to run this test: %s", name, install)
	return ""
}

// TestClaudeCodeCLI runs the real Claude Code CLI in print mode against ccr
// and a fake OpenAI upstream that first asks for a Write tool call and then
// answers with text: the turn completes and the tool ran.
func TestClaudeCodeCLI(t *testing.T) {
	claude := needProgram(t, "claude", "npm install -g @anthropic-ai/claude-code")
	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	var toolTurns, finalTurns atomic.Int32

	up := newFakeOpenAI(t, func(w http.ResponseWriter, req map[string]json.RawMessage) {
		var msgs []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		json.Unmarshal(req["messages"], &msgs)
		var tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		json.Unmarshal(req["tools"], &tools)
		hasWrite := false
		for _, tl := range tools {
			if tl.Function.Name == "Write" {
				hasWrite = true
			}
		}
		stream := string(req["stream"]) == "true"
		reply := func(text string) {
			if stream {
				b, _ := json.Marshal(text)
				sse(w, `{"choices":[{"index":0,"delta":{"content":`+string(b)+`},"finish_reason":null}]}`,
					`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
					`{"choices":[],"usage":{"prompt_tokens":50,"completion_tokens":5,"total_tokens":55}}`)
				return
			}
			b, _ := json.Marshal(text)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c1","object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":`+string(b)+`}}],"usage":{"prompt_tokens":50,"completion_tokens":5,"total_tokens":55}}`)
		}
		switch {
		case !hasWrite || len(msgs) == 0:
			reply("ok") // Claude Code's side requests (titles, quota checks)
		case msgs[len(msgs)-1].Role == "tool":
			finalTurns.Add(1)
			reply("I wrote hello.txt for you.")
		default:
			toolTurns.Add(1)
			args, _ := json.Marshal(map[string]string{"file_path": target, "content": "hello from ccr\n"})
			argStr, _ := json.Marshal(string(args))
			half := len(argStr) / 2
			if !stream {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":"c2","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_w1","type":"function","function":{"name":"Write","arguments":`+string(argStr)+`}}]}}]}`)
				return
			}
			// Split the arguments across two chunks, at a JSON-string-safe point.
			first, rest := splitJSONString(string(argStr), half)
			sse(w,
				`{"choices":[{"index":0,"delta":{"content":"Writing the file."},"finish_reason":null}]}`,
				`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_w1","type":"function","function":{"name":"Write","arguments":`+first+`}}]},"finish_reason":null}]}`,
				`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`+rest+`}}]},"finish_reason":null}]}`,
				`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
				`{"choices":[],"usage":{"prompt_tokens":80,"completion_tokens":20,"total_tokens":100}}`)
		}
	})
	srv := startRouter(t, up.URL)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, claude, "-p", "Create hello.txt containing a greeting.",
		"--output-format", "json", "--allowedTools", "Write", "--max-turns", "4")
	cmd.Dir = work
	cmd.Env = []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"ANTHROPIC_BASE_URL=" + srv.URL,
		"ANTHROPIC_AUTH_TOKEN=client-key",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"NO_PROXY=127.0.0.1,localhost",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("claude: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var result struct {
		Type    string `json:"type"`
		Subtype string `json:"subtype"`
		IsError bool   `json:"is_error"`
		Result  string `json:"result"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &result); err != nil {
		t.Fatalf("claude output is not JSON: %v\n%s", err, stdout.String())
	}
	if result.IsError || result.Subtype != "success" || !strings.Contains(result.Result, "I wrote hello.txt") {
		t.Errorf("claude result = %+v\nstderr: %s", result, stderr.String())
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != "hello from ccr\n" {
		t.Errorf("the Write tool did not run: %q, %v", got, err)
	}
	if toolTurns.Load() == 0 || finalTurns.Load() == 0 {
		t.Errorf("upstream saw %d tool turns and %d final turns", toolTurns.Load(), finalTurns.Load())
	}
}

// splitJSONString splits a JSON string literal into two valid JSON string
// literals whose contents concatenate to the original, near byte n.
func splitJSONString(lit string, n int) (string, string) {
	var s string
	json.Unmarshal([]byte(lit), &s)
	cut := min(max(n, 1), len(s)-1)
	a, _ := json.Marshal(s[:cut])
	b, _ := json.Marshal(s[cut:])
	return string(a), string(b)
}
