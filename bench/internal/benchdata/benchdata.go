// Package benchdata generates the inputs of ccr's benchmarks: a
// Claude-Code-like Messages request of about 45 KB (a system prompt, 15
// tools with realistic JSON schemas, and a conversation with tool_use and
// tool_result turns), and upstream answers in the Anthropic and OpenAI Chat
// Completions formats, complete or as event streams of a given number of
// chunks with tool calls.
//
// Everything is deterministic: the same call returns the same bytes, so the
// committed copies under testdata/bench/ can be checked against it.
package benchdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// ClientModel is the model the generated request asks for.
const ClientModel = "claude-sonnet-4-5-20250929"

// Request returns the Claude-Code-like request body, with "stream" set as
// asked. It is about 45 KB.
func Request(stream bool) []byte {
	g := newGen(1)
	req := request{
		Model:       ClientModel,
		Messages:    g.conversation(),
		Temperature: 1,
		System: []block{
			{Type: "text", Text: "You are a command line coding assistant working in the user's repository."},
			{Type: "text", Text: g.systemPrompt(), CacheControl: ephemeral()},
		},
		Tools:     g.tools(),
		Metadata:  json.RawMessage(`{"user_id":"user_5f0c2a7e9b3d41c8a6e2f1d0b9c8a7e6f5d4c3b2a1908f7e6d5c4b3a29181706_account__session_3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d"}`),
		MaxTokens: 32000,
		Stream:    stream,
	}
	return marshal(req)
}

// CountTokensRequest returns the request's body for count_tokens: the same
// conversation without max_tokens, stream or metadata.
func CountTokensRequest() []byte {
	g := newGen(1)
	req := struct {
		Model    string    `json:"model"`
		Messages []message `json:"messages"`
		System   []block   `json:"system"`
		Tools    []tool    `json:"tools"`
	}{ClientModel, g.conversation(), []block{
		{Type: "text", Text: "You are a command line coding assistant working in the user's repository."},
		{Type: "text", Text: g.systemPrompt(), CacheControl: ephemeral()},
	}, g.tools()}
	return marshal(req)
}

type request struct {
	Model       string          `json:"model"`
	Messages    []message       `json:"messages"`
	Temperature float64         `json:"temperature"`
	System      []block         `json:"system"`
	Tools       []tool          `json:"tools"`
	Metadata    json.RawMessage `json:"metadata"`
	MaxTokens   int             `json:"max_tokens"`
	Stream      bool            `json:"stream"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

type block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      string          `json:"content,omitempty"`
	IsError      bool            `json:"is_error,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

func ephemeral() json.RawMessage { return json.RawMessage(`{"type":"ephemeral"}`) }

func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the generator's own types always encode
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// gen is a seeded source of prose and code.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))} }

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

var (
	subjects = []string{"The assistant", "You", "Each tool call", "A shell command", "The user", "The test suite",
		"A pull request", "The working tree", "A search", "The final answer", "Every edit", "A plan"}
	verbs = []string{"should check", "must not change", "may read", "reports", "keeps", "prefers", "runs",
		"explains", "avoids", "verifies", "summarises", "lists"}
	objects = []string{"the files it was asked about", "unrelated code", "the output of the last command",
		"absolute paths", "the existing conventions of the project", "secrets and credentials", "a short summary",
		"the failing test first", "long-running processes", "the formatter and the linter", "the git history",
		"the configuration files", "error messages verbatim", "the public interfaces"}
	tails = []string{"before making an edit.", "when the request is unclear.", "unless the user asks for it.",
		"after every change.", "in a single message.", "so that the result can be reviewed.", "and nothing else.",
		"without guessing.", "when several files are involved.", "before reporting success.",
		"even when it seems obvious.", "while the build is running."}
)

func (g *gen) sentence() string {
	return g.pick(subjects) + " " + g.pick(verbs) + " " + g.pick(objects) + " " + g.pick(tails)
}

func (g *gen) paragraph(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = g.sentence()
	}
	return strings.Join(s, " ")
}

func (g *gen) systemPrompt() string {
	var b strings.Builder
	sections := []string{"Tone and style", "Proactiveness", "Following conventions", "Code style",
		"Task management", "Doing tasks", "Tool usage policy", "Code references", "Environment"}
	for _, s := range sections {
		fmt.Fprintf(&b, "# %s\n%s\n\n", s, g.paragraph(6))
		for range 3 {
			fmt.Fprintf(&b, "- %s\n", g.sentence())
		}
		b.WriteString("\n")
	}
	b.WriteString("<env>\nWorking directory: /home/dev/src/inventory\nIs directory a git repo: Yes\nPlatform: linux\nOS Version: Linux 6.8.0\nToday's date: 2025-10-14\n</env>\n")
	return b.String()
}

var (
	idents = []string{"Order", "Invoice", "Customer", "Warehouse", "Shipment", "Ledger", "Report", "Session",
		"Cursor", "Batch", "Quota", "Refund"}
	funcs = []string{"load", "store", "validate", "reconcile", "publish", "render", "apply", "merge", "split", "lookup"}
)

// code returns n lines of Go-like source, numbered as the Read tool
// numbers them, starting at line first.
func (g *gen) code(first, n int) string {
	var b strings.Builder
	line := first
	emit := func(format string, args ...any) {
		fmt.Fprintf(&b, "%6d\u2192", line)
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
		line++
	}
	for line < first+n {
		id, fn := g.pick(idents), g.pick(funcs)
		emit("// %s%s %s the %s and reports the first problem found.", fn, id, fn+"s", strings.ToLower(id))
		emit("func (s *Service) %s%s(ctx context.Context, id int64) (*%s, error) {", fn, id, id)
		emit("\tv, err := s.db.%s(ctx, id)", g.pick(funcs))
		emit("\tif err != nil {")
		emit("\t\treturn nil, fmt.Errorf(\"%s %%d: %%w\", id, err)", strings.ToLower(id))
		emit("\t}")
		emit("\tif v.Total < 0 || len(v.Lines) > s.limit {")
		emit("\t\treturn nil, &ValidationError{Field: %q, Reason: \"out of range\"}", strings.ToLower(g.pick(idents)))
		emit("\t}")
		emit("\treturn v, nil")
		emit("}")
		emit("")
	}
	return b.String()
}

func (g *gen) toolID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("toolu_01")
	for range 22 {
		b = append(b, alphabet[g.r.IntN(len(alphabet))])
	}
	return string(b)
}

func input(v any) json.RawMessage { return json.RawMessage(marshal(v)) }

// conversation is a coding session: a question, then reads, searches, an
// edit, a failing and a passing test run, and a summary.
func (g *gen) conversation() []message {
	type call struct {
		name   string
		input  json.RawMessage
		result string
		err    bool
	}
	var msgs []message
	msgs = append(msgs, message{Role: "user", Content: []block{
		{Type: "text", Text: "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# important-instruction-reminders\n" + g.paragraph(3) + "\n</system-reminder>"},
		{Type: "text", Text: "The reconcile step in internal/ledger sometimes reports a refund twice. Find out why, fix it, and add a test."},
	}})
	steps := []struct {
		say   string
		calls []call
	}{
		{"I'll start by looking at the ledger package.", []call{
			{"Glob", input(map[string]string{"pattern": "internal/ledger/**/*.go"}), "/home/dev/src/inventory/internal/ledger/ledger.go\n/home/dev/src/inventory/internal/ledger/reconcile.go\n/home/dev/src/inventory/internal/ledger/reconcile_test.go\n/home/dev/src/inventory/internal/ledger/refund.go", false},
		}},
		{"Let me read the reconcile code and the refund handling.", []call{
			{"Read", input(map[string]string{"file_path": "/home/dev/src/inventory/internal/ledger/reconcile.go"}), g.code(1, 186), false},
			{"Read", input(map[string]string{"file_path": "/home/dev/src/inventory/internal/ledger/refund.go"}), g.code(1, 100), false},
		}},
		{"", []call{
			{"Grep", input(map[string]any{"pattern": "applyRefund", "path": "/home/dev/src/inventory", "output_mode": "content", "-n": true}), "internal/ledger/refund.go:31:func (s *Service) applyRefund(ctx context.Context, id int64) (*Refund, error) {\ninternal/ledger/reconcile.go:58:\tif _, err := s.applyRefund(ctx, r.ID); err != nil {\ninternal/ledger/reconcile.go:64:\t\ts.applyRefund(ctx, r.ID)", false},
		}},
		{"The retry path on line 64 applies the refund again after a partial failure. I'll make the retry skip refunds that were already applied.", []call{
			{"Edit", input(map[string]string{"file_path": "/home/dev/src/inventory/internal/ledger/reconcile.go", "old_string": "\t\ts.applyRefund(ctx, r.ID)\n", "new_string": "\t\tif !applied[r.ID] {\n\t\t\ts.applyRefund(ctx, r.ID)\n\t\t}\n"}), "The file /home/dev/src/inventory/internal/ledger/reconcile.go has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n" + g.code(56, 14), false},
		}},
		{"Now a test for the double refund.", []call{
			{"Read", input(map[string]string{"file_path": "/home/dev/src/inventory/internal/ledger/reconcile_test.go"}), g.code(1, 60), false},
		}},
		{"", []call{
			{"Bash", input(map[string]string{"command": "go test ./internal/ledger/ -run TestReconcile -count=1", "description": "Run the ledger reconcile tests"}), "--- FAIL: TestReconcileRetry (0.00s)\n    reconcile_test.go:88: refunds applied = 2; want 1\nFAIL\nFAIL\tinventory/internal/ledger\t0.014s\nFAIL", true},
		}},
		{"The test fails as expected before the retry fix is complete: `applied` is never filled in. Let me fix that.", []call{
			{"Edit", input(map[string]string{"file_path": "/home/dev/src/inventory/internal/ledger/reconcile.go", "old_string": "\tif _, err := s.applyRefund(ctx, r.ID); err != nil {\n", "new_string": "\tif _, err := s.applyRefund(ctx, r.ID); err == nil {\n\t\tapplied[r.ID] = true\n\t} else {\n"}), "The file /home/dev/src/inventory/internal/ledger/reconcile.go has been updated.", false},
			{"Bash", input(map[string]string{"command": "go test ./internal/ledger/ -count=1", "description": "Run all ledger tests"}), "ok  \tinventory/internal/ledger\t0.021s", false},
		}},
	}
	for _, s := range steps {
		var a []block
		if s.say != "" {
			a = append(a, block{Type: "text", Text: s.say})
		}
		var results []block
		for _, c := range s.calls {
			id := g.toolID()
			a = append(a, block{Type: "tool_use", ID: id, Name: c.name, Input: c.input})
			results = append(results, block{Type: "tool_result", ToolUseID: id, Content: c.result, IsError: c.err})
		}
		msgs = append(msgs, message{Role: "assistant", Content: a}, message{Role: "user", Content: results})
	}
	last := &msgs[len(msgs)-1]
	last.Content[len(last.Content)-1].CacheControl = ephemeral()
	return msgs
}

func (g *gen) tools() []tool {
	out := make([]tool, len(toolSchemas))
	for i, t := range toolSchemas {
		out[i] = tool{Name: t.name, Description: t.lead + "\n\n" + g.paragraph(t.sentences), InputSchema: json.RawMessage(t.schema)}
	}
	return out
}

const draft = `"$schema":"http://json-schema.org/draft-07/schema#"`

var toolSchemas = []struct {
	name      string
	lead      string
	sentences int
	schema    string
}{
	{"Task", "Launch a sub-agent that works on a self-contained task with its own tools and reports back once.", 14,
		`{"type":"object","properties":{"description":{"type":"string","description":"A short (3-5 word) description of the task"},"prompt":{"type":"string","description":"The task for the agent to perform"},"subagent_type":{"type":"string","description":"The type of specialized agent to use for this task"}},"required":["description","prompt","subagent_type"],"additionalProperties":false,` + draft + `}`},
	{"Bash", "Run a shell command in a persistent session, with an optional timeout.", 16,
		`{"type":"object","properties":{"command":{"type":"string","description":"The command to execute"},"timeout":{"type":"number","description":"Optional timeout in milliseconds (max 600000)"},"description":{"type":"string","description":"Clear, concise description of what this command does in 5-10 words"},"run_in_background":{"type":"boolean","description":"Set to true to run this command in the background"}},"required":["command"],"additionalProperties":false,` + draft + `}`},
	{"Glob", "Find files by name with glob patterns such as \"**/*.go\", newest first.", 4,
		`{"type":"object","properties":{"pattern":{"type":"string","description":"The glob pattern to match files against"},"path":{"type":"string","description":"The directory to search in. If not specified, the current working directory will be used."}},"required":["pattern"],"additionalProperties":false,` + draft + `}`},
	{"Grep", "Search file contents with regular expressions.", 8,
		`{"type":"object","properties":{"pattern":{"type":"string","description":"The regular expression pattern to search for in file contents"},"path":{"type":"string","description":"File or directory to search in. Defaults to current working directory."},"glob":{"type":"string","description":"Glob pattern to filter files (e.g. \"*.js\", \"*.{ts,tsx}\")"},"output_mode":{"type":"string","enum":["content","files_with_matches","count"],"description":"Output mode"},"-B":{"type":"number","description":"Number of lines to show before each match"},"-A":{"type":"number","description":"Number of lines to show after each match"},"-C":{"type":"number","description":"Number of lines to show before and after each match"},"-n":{"type":"boolean","description":"Show line numbers in output"},"-i":{"type":"boolean","description":"Case insensitive search"},"type":{"type":"string","description":"File type to search"},"head_limit":{"type":"number","description":"Limit output to first N lines/entries"},"multiline":{"type":"boolean","description":"Enable multiline mode"}},"required":["pattern"],"additionalProperties":false,` + draft + `}`},
	{"ExitPlanMode", "Leave plan mode once the plan is ready for the user to approve.", 4,
		`{"type":"object","properties":{"plan":{"type":"string","description":"The plan you came up with, that you want to run by the user for approval. Supports markdown."}},"required":["plan"],"additionalProperties":false,` + draft + `}`},
	{"Read", "Read a file from the local filesystem, with line numbers.", 8,
		`{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"},"offset":{"type":"number","description":"The line number to start reading from"},"limit":{"type":"number","description":"The number of lines to read"}},"required":["file_path"],"additionalProperties":false,` + draft + `}`},
	{"Edit", "Replace an exact string in a file.", 7,
		`{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to modify"},"old_string":{"type":"string","description":"The text to replace"},"new_string":{"type":"string","description":"The text to replace it with (must be different from old_string)"},"replace_all":{"type":"boolean","default":false,"description":"Replace all occurences of old_string (default false)"}},"required":["file_path","old_string","new_string"],"additionalProperties":false,` + draft + `}`},
	{"MultiEdit", "Make several replacements in one file, applied in order, all or none.", 8,
		`{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to modify"},"edits":{"type":"array","items":{"type":"object","properties":{"old_string":{"type":"string","description":"The text to replace"},"new_string":{"type":"string","description":"The text to replace it with"},"replace_all":{"type":"boolean","default":false,"description":"Replace all occurences of old_string (default false)."}},"required":["old_string","new_string"],"additionalProperties":false},"minItems":1,"description":"Array of edit operations to perform sequentially on the file"}},"required":["file_path","edits"],"additionalProperties":false,` + draft + `}`},
	{"Write", "Write a file, replacing it if it exists.", 5,
		`{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to write (must be absolute, not relative)"},"content":{"type":"string","description":"The content to write to the file"}},"required":["file_path","content"],"additionalProperties":false,` + draft + `}`},
	{"NotebookEdit", "Replace, insert or delete a cell of a Jupyter notebook.", 4,
		`{"type":"object","properties":{"notebook_path":{"type":"string","description":"The absolute path to the Jupyter notebook file to edit"},"cell_id":{"type":"string","description":"The ID of the cell to edit"},"new_source":{"type":"string","description":"The new source for the cell"},"cell_type":{"type":"string","enum":["code","markdown"],"description":"The type of the cell"},"edit_mode":{"type":"string","enum":["replace","insert","delete"],"description":"The type of edit to make"}},"required":["notebook_path","new_source"],"additionalProperties":false,` + draft + `}`},
	{"WebFetch", "Fetch a URL, convert it to markdown and answer a prompt about it.", 6,
		`{"type":"object","properties":{"url":{"type":"string","format":"uri","description":"The URL to fetch content from"},"prompt":{"type":"string","description":"The prompt to run on the fetched content"}},"required":["url","prompt"],"additionalProperties":false,` + draft + `}`},
	{"TodoWrite", "Create and update the task list of the current session.", 12,
		`{"type":"object","properties":{"todos":{"type":"array","items":{"type":"object","properties":{"content":{"type":"string","minLength":1},"status":{"type":"string","enum":["pending","in_progress","completed"]},"activeForm":{"type":"string","minLength":1}},"required":["content","status","activeForm"],"additionalProperties":false},"description":"The updated todo list"}},"required":["todos"],"additionalProperties":false,` + draft + `}`},
	{"WebSearch", "Search the web and return result blocks with titles and links.", 5,
		`{"type":"object","properties":{"query":{"type":"string","minLength":2,"description":"The search query to use"},"allowed_domains":{"type":"array","items":{"type":"string"},"description":"Only include search results from these domains"},"blocked_domains":{"type":"array","items":{"type":"string"},"description":"Never include search results from these domains"}},"required":["query"],"additionalProperties":false,` + draft + `}`},
	{"BashOutput", "Read new output of a background shell.", 3,
		`{"type":"object","properties":{"bash_id":{"type":"string","description":"The ID of the background shell to retrieve output from"},"filter":{"type":"string","description":"Optional regular expression to filter the output lines"}},"required":["bash_id"],"additionalProperties":false,` + draft + `}`},
	{"KillShell", "Stop a background shell by its ID.", 2,
		`{"type":"object","properties":{"shell_id":{"type":"string","description":"The ID of the background shell to kill"}},"required":["shell_id"],"additionalProperties":false,` + draft + `}`},
}
