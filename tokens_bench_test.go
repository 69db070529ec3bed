package ccr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkTokenCounterTurn is the per-request cost of counting a ~500 KB
// Claude Code conversation that grew by one message (a fresh tool result
// of a few KB) since the previous request, with a warm cache.
func BenchmarkTokenCounterTurn(b *testing.B) {
	req := genConversation(1, 500<<10)
	tc := NewTokenCounter(0)
	tc.Count(req)
	fresh := genConversation(2, 400<<10).Messages // tool results to append
	var results []ContentBlock
	for _, m := range fresh {
		for _, c := range m.Content {
			if c.Type == "tool_result" && c.Content[0] == '"' {
				results = append(results, c)
			}
		}
	}
	base := len(req.Messages)
	req.Messages = append(req.Messages, Message{Role: "user"})
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		// A new message each turn: content never counted before.
		blk := results[i%len(results)]
		blk.Content = append(json.RawMessage(nil), blk.Content...)
		blk.Content = append(blk.Content[:1], append([]byte(fmt.Sprintf("turn %d\\n", i)), blk.Content[1:]...)...)
		req.Messages[base].Content = Content{blk}
		tc.Count(req)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/turn")
}

// BenchmarkTokenCounterCold counts the ~500 KB conversation with an empty
// cache: every block is new.
func BenchmarkTokenCounterCold(b *testing.B) {
	req := genConversation(1, 500<<10)
	body, _ := json.Marshal(req)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		NewTokenCounter(0).Count(req)
	}
}

// BenchmarkTokenCounterWarm counts the same conversation again: the floor
// of the per-turn cost (hashing every block).
func BenchmarkTokenCounterWarm(b *testing.B) {
	req := genConversation(1, 500<<10)
	body, _ := json.Marshal(req)
	tc := NewTokenCounter(0)
	tc.Count(req)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		tc.Count(req)
	}
}

// The generator below writes deterministic, Claude-Code-like requests: a
// long system prompt, the usual tools, and turns of reasoning, tool calls
// and tool results (source files, command output, search hits, a
// screenshot now and then). Its text is synthetic: word lists and code
// templates, with the shape, not the content, of real traffic.

var genWords = strings.Fields(`the be to of and a in that have it for not on with he as you do at this but his by
from they we say her she or an will my one all would there their what so up out if about who get which go me when
make can like time no just him know take people into year your good some could them see other than then now look
only come its over think also back after use two how our work first well way even new want because any these give
day most us is are was were been has had did should must may might shall file function value error request response
stream token count router provider model server client config test build run check update change fix add remove
return type field method package import module cache block message content tool result input output event handler
context deadline timeout retry buffer header body status code line path string number list map slice pointer struct
interface channel goroutine mutex lock parse encode decode marshal unmarshal write read close open flush
Anthropic OpenAI Gemini Claude JSON HTTP SSE API URL CLI`)

var genVerbs = strings.Fields(`returns reads writes checks updates builds parses encodes decodes counts routes
streams sends handles caches validates converts merges splits loads stores wraps closes opens flushes`)

func genSentence(r *rand.Rand) string {
	n := 6 + r.IntN(16)
	var b strings.Builder
	for i := range n {
		w := genWords[r.IntN(len(genWords))]
		if i == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		} else {
			b.WriteByte(' ')
			if r.IntN(12) == 0 {
				w = "`" + genIdent(r) + "`"
			} else if r.IntN(9) == 0 {
				w = genVerbs[r.IntN(len(genVerbs))]
			}
		}
		b.WriteString(w)
		if i < n-1 && r.IntN(10) == 0 {
			b.WriteByte(',')
		}
	}
	if r.IntN(8) == 0 {
		b.WriteString(" (see " + genPath(r) + ")")
	}
	b.WriteString([]string{".", ".", ".", ":", "?"}[r.IntN(5)])
	return b.String()
}

func genParagraph(r *rand.Rand, sentences int) string {
	s := make([]string, sentences)
	for i := range s {
		s[i] = genSentence(r)
	}
	return strings.Join(s, " ")
}

// genMarkdown is assistant or system prose: paragraphs, headings, lists
// and code fences.
func genMarkdown(r *rand.Rand, size int) string {
	var b strings.Builder
	for b.Len() < size {
		switch r.IntN(6) {
		case 0:
			fmt.Fprintf(&b, "## %s\n\n", strings.TrimRight(genSentence(r), ".:?"))
		case 1:
			for range 2 + r.IntN(5) {
				fmt.Fprintf(&b, "- %s\n", genSentence(r))
			}
			b.WriteByte('\n')
		case 2:
			fmt.Fprintf(&b, "```go\n%s```\n\n", genCode(r, 4+r.IntN(12)))
		default:
			fmt.Fprintf(&b, "%s\n\n", genParagraph(r, 2+r.IntN(5)))
		}
	}
	return b.String()
}

func genIdent(r *rand.Rand) string {
	n := 1 + r.IntN(3)
	var b strings.Builder
	for i := range n {
		w := genWords[r.IntN(len(genWords)-12)]
		if i > 0 || r.IntN(2) == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

func genPath(r *rand.Rand) string {
	dirs := []string{"internal", "server", "cmd/ccr", "testdata", "pkg/util", "internal/bpe", "examples/embed"}
	return dirs[r.IntN(len(dirs))] + "/" + strings.ToLower(genIdent(r)) + []string{".go", "_test.go", ".json", ".md", ".ts"}[r.IntN(5)]
}

// genCode returns about lines lines of Go-like code.
func genCode(r *rand.Rand, lines int) string {
	var b strings.Builder
	for n := 0; n < lines; {
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "// %s %s\n", genIdent(r), strings.ToLower(genSentence(r)))
			n++
		case 1:
			fmt.Fprintf(&b, "type %s struct {\n", genIdent(r))
			k := 2 + r.IntN(5)
			for range k {
				id := genIdent(r)
				fmt.Fprintf(&b, "\t%s %s `json:\"%s,omitempty\"`\n", strings.ToUpper(id[:1])+id[1:],
					[]string{"string", "int", "[]byte", "*Request", "map[string]json.RawMessage", "time.Duration"}[r.IntN(6)],
					strings.ToLower(id))
			}
			b.WriteString("}\n\n")
			n += k + 3
		default:
			recv := genIdent(r)
			fmt.Fprintf(&b, "func (%c *%s) %s(ctx context.Context, %s []byte) (int, error) {\n",
				strings.ToLower(recv)[0], strings.ToUpper(recv[:1])+recv[1:], genIdent(r), strings.ToLower(genIdent(r)))
			k := 3 + r.IntN(10)
			for range k {
				switch r.IntN(4) {
				case 0:
					fmt.Fprintf(&b, "\tif err := %s(ctx); err != nil {\n\t\treturn 0, fmt.Errorf(\"%s: %%w\", err)\n\t}\n",
						genIdent(r), strings.ToLower(genIdent(r)))
				case 1:
					fmt.Fprintf(&b, "\tfor i := 0; i < len(%s); i++ {\n\t\t%s += %d\n\t}\n", genIdent(r), genIdent(r), r.IntN(1000))
				case 2:
					fmt.Fprintf(&b, "\t%s := %s.%s(%q)\n", strings.ToLower(genIdent(r)), genIdent(r), genIdent(r), genIdent(r))
				default:
					fmt.Fprintf(&b, "\t// %s\n", genSentence(r))
				}
			}
			fmt.Fprintf(&b, "\treturn %d, nil\n}\n\n", r.IntN(100))
			n += k*2 + 3
		}
	}
	return b.String()
}

// genToolOutput is what a tool returns: a numbered file, command output or
// search hits.
func genToolOutput(r *rand.Rand, tool string) string {
	var b strings.Builder
	switch tool {
	case "Read":
		for i, line := range strings.Split(genCode(r, 30+r.IntN(150)), "\n") {
			fmt.Fprintf(&b, "%6d→%s\n", i+1, line)
		}
	case "Grep":
		for range 5 + r.IntN(40) {
			fmt.Fprintf(&b, "%s:%d:\t%s\n", genPath(r), 1+r.IntN(900), strings.TrimSpace(genCode(r, 1)))
		}
	case "Glob":
		for range 5 + r.IntN(60) {
			b.WriteString("/home/user/project/" + genPath(r) + "\n")
		}
	default: // Bash
		switch r.IntN(3) {
		case 0:
			for range 3 + r.IntN(20) {
				fmt.Fprintf(&b, "=== RUN   Test%s\n--- PASS: Test%s (0.%02ds)\n", genIdent(r), genIdent(r), r.IntN(100))
			}
			fmt.Fprintf(&b, "PASS\nok  \tgithub.com/ccrgo/ccr/%s\t%d.%03ds\n", genPath(r), r.IntN(5), r.IntN(1000))
		case 1:
			for range 5 + r.IntN(30) {
				fmt.Fprintf(&b, "-rw-r--r--  1 user staff %7d Nov %2d %02d:%02d %s\n", r.IntN(200000), 1+r.IntN(30), r.IntN(24), r.IntN(60), genPath(r))
			}
		default:
			fmt.Fprintf(&b, "diff --git a/%[1]s b/%[1]s\n@@ -%d,7 +%d,9 @@\n", genPath(r), r.IntN(500), r.IntN(500))
			for _, line := range strings.Split(genCode(r, 10+r.IntN(30)), "\n") {
				b.WriteString([]string{" ", " ", "+", "-"}[r.IntN(4)] + line + "\n")
			}
		}
	}
	return b.String()
}

func genSchema(r *rand.Rand) json.RawMessage {
	type prop struct {
		Type        string `json:"type"`
		Description string `json:"description"`
	}
	props := map[string]prop{}
	var required []string
	for range 1 + r.IntN(5) {
		name := strings.ToLower(genIdent(r))
		props[name] = prop{[]string{"string", "number", "boolean", "array"}[r.IntN(4)], genSentence(r)}
		if r.IntN(2) == 0 {
			required = append(required, name)
		}
	}
	b, _ := json.Marshal(map[string]any{
		"type": "object", "properties": props, "required": required,
		"additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#",
	})
	return b
}

// genPNG returns a base64 PNG of the given size (a flat image, so small).
func genPNG(w, h int) string {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xEE
	}
	img.Set(w/2, h/2, color.Gray{Y: 0})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

var genToolNames = []string{"Bash", "Read", "Grep", "Glob", "Edit", "Write", "TodoWrite", "Task", "WebFetch", "LS", "MultiEdit", "NotebookEdit"}

// genConversation returns a Claude-Code-like request of about size bytes
// of JSON.
func genConversation(seed uint64, size int) *Request {
	r := rand.New(rand.NewPCG(seed, 0xC0DE))
	req := &Request{
		Model:     "claude-sonnet-4-5-20250929",
		MaxTokens: 32000,
		Stream:    true,
		System: Content{
			{Type: "text", Text: "x-anthropic-billing-header: cc_version=2.0.14; cc_entrypoint=cli; cch=00000;"},
			{Type: "text", Text: "You are Claude Code, Anthropic's official CLI for Claude."},
			{Type: "text", Text: genMarkdown(r, 12000)},
		},
		Thinking: &Thinking{Type: "enabled", BudgetTokens: 31999},
	}
	for _, name := range genToolNames {
		req.Tools = append(req.Tools, Tool{Name: name, Description: genMarkdown(r, 300+r.IntN(4000)), InputSchema: genSchema(r)})
	}
	req.Tools = append(req.Tools, Tool{Type: "web_search_20250305", Name: "web_search",
		Extra: map[string]json.RawMessage{"max_uses": json.RawMessage("5")}})

	total := 60000
	add := func(role string, blocks ...ContentBlock) {
		req.Messages = append(req.Messages, Message{Role: role, Content: blocks})
		for _, b := range blocks {
			total += len(b.Text) + len(b.Thinking) + len(b.Input) + len(b.Content) + 40
		}
	}
	add("user",
		ContentBlock{Type: "text", Text: "<system-reminder>\n" + genMarkdown(r, 2500) + "</system-reminder>"},
		ContentBlock{Type: "text", Text: genParagraph(r, 3)})
	for id := 0; total < size; id++ {
		var asst []ContentBlock
		if r.IntN(3) == 0 {
			asst = append(asst, ContentBlock{Type: "thinking", Thinking: genParagraph(r, 2+r.IntN(6)), Signature: strings.Repeat("Sig", 40)})
		}
		if r.IntN(2) == 0 {
			asst = append(asst, ContentBlock{Type: "text", Text: genParagraph(r, 1+r.IntN(3))})
		}
		tool := genToolNames[r.IntN(4)]
		input, _ := json.Marshal(map[string]string{"command": "go test ./... -run " + genIdent(r), "file_path": "/home/user/project/" + genPath(r), "description": genSentence(r)})
		toolID := fmt.Sprintf("toolu_%024d", id)
		asst = append(asst, ContentBlock{Type: "tool_use", ID: toolID, Name: tool, Input: input})
		add("assistant", asst...)

		var content json.RawMessage
		if r.IntN(25) == 0 {
			content, _ = json.Marshal([]ContentBlock{
				{Type: "text", Text: "Screenshot captured."},
				{Type: "image", Source: &Source{Type: "base64", MediaType: "image/png", Data: genPNG(1280+r.IntN(1400), 720+r.IntN(900))}},
			})
		} else {
			content, _ = json.Marshal(genToolOutput(r, tool))
		}
		add("user", ContentBlock{Type: "tool_result", ToolUseID: toolID, Content: content})
		if r.IntN(10) == 0 {
			add("assistant", ContentBlock{Type: "text", Text: genMarkdown(r, 400+r.IntN(1500))})
			add("user", ContentBlock{Type: "text", Text: genParagraph(r, 1+r.IntN(4))})
		}
	}
	return req
}
