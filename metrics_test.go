package ccr

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file checks the /metrics output with a parser written from the
// Prometheus text exposition format specification (version 0.0.4,
// "Exposition formats", text-based format):
//
//   - lines are separated by '\n'; empty lines are ignored;
//   - a line starting with '#' is a comment unless its second token is HELP
//     or TYPE: "# HELP name docstring" (docstring escapes: \\ and \n),
//     "# TYPE name type" with type counter, gauge, histogram, summary or
//     untyped; at most one TYPE line per metric name, before its first
//     sample; at most one HELP line per metric name;
//   - a sample is: metric_name [ "{" label_name "=" `"` label_value `"`
//     { "," label_name "=" `"` label_value `"` } [ "," ] "}" ] value
//     [ timestamp ], with metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label
//     names [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"), label value
//     escapes \\, \" and \n, values Go floats plus NaN, +Inf, -Inf, and
//     timestamps int64 milliseconds;
//   - all lines of one metric family are contiguous; no label set repeats;
//   - a histogram named x has samples x_bucket (with an le label), x_sum
//     and x_count; bucket counts are cumulative (non-decreasing as le
//     grows), a bucket with le="+Inf" exists and equals x_count.

type expSample struct {
	name   string
	labels map[string]string
	value  float64
}

type expFamily struct {
	name, typ, help string
	samples         []expSample
}

// parseExposition parses text and checks the rules above.
func parseExposition(text string) (map[string]*expFamily, error) {
	fams := make(map[string]*expFamily)
	var order []string
	seen := make(map[string]bool) // name + canonical labels
	current := ""
	closed := make(map[string]bool) // families whose block has ended
	enter := func(name string) error {
		if name == current {
			return nil
		}
		if closed[name] {
			return fmt.Errorf("family %s is not contiguous", name)
		}
		if current != "" {
			closed[current] = true
		}
		current = name
		return nil
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a line feed")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ln := n + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) < 2 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // plain comment
			}
			if len(f) < 3 || !validMetricName(f[2]) {
				return nil, fmt.Errorf("line %d: bad %s line %q", ln, f[1], line)
			}
			name := f[2]
			if err := enter(name); err != nil {
				return nil, fmt.Errorf("line %d: %v", ln, err)
			}
			fam := fams[name]
			if fam == nil {
				fam = &expFamily{name: name}
				fams[name] = fam
				order = append(order, name)
			}
			if f[1] == "TYPE" {
				if len(f) != 4 {
					return nil, fmt.Errorf("line %d: TYPE needs exactly a name and a type", ln)
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return nil, fmt.Errorf("line %d: unknown type %q", ln, f[3])
				}
				if fam.typ != "" {
					return nil, fmt.Errorf("line %d: second TYPE for %s", ln, name)
				}
				if len(fam.samples) > 0 {
					return nil, fmt.Errorf("line %d: TYPE for %s after its samples", ln, name)
				}
				fam.typ = f[3]
			} else {
				if fam.help != "" {
					return nil, fmt.Errorf("line %d: second HELP for %s", ln, name)
				}
				_, rest, _ := strings.Cut(line, " HELP "+name)
				doc := strings.TrimPrefix(rest, " ")
				for i := 0; i < len(doc); i++ {
					if doc[i] == '\\' {
						if i+1 >= len(doc) || (doc[i+1] != '\\' && doc[i+1] != 'n') {
							return nil, fmt.Errorf("line %d: bad escape in HELP", ln)
						}
						i++
					}
				}
				fam.help = doc
				if fam.help == "" {
					fam.help = " "
				}
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v: %q", ln, err, line)
		}
		famName := s.name
		if f := fams[s.name]; f == nil || f.typ == "" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				base := strings.TrimSuffix(s.name, suf)
				if base != s.name && fams[base] != nil && (fams[base].typ == "histogram" || fams[base].typ == "summary") {
					famName = base
				}
			}
		}
		fam := fams[famName]
		if fam == nil || fam.typ == "" {
			return nil, fmt.Errorf("line %d: sample of %s before its TYPE line", ln, s.name)
		}
		if err := enter(famName); err != nil {
			return nil, fmt.Errorf("line %d: %v", ln, err)
		}
		if fam.typ == "histogram" && s.name == famName {
			return nil, fmt.Errorf("line %d: histogram sample without _bucket/_sum/_count suffix", ln)
		}
		if s.name == famName+"_bucket" {
			if _, ok := s.labels["le"]; !ok {
				return nil, fmt.Errorf("line %d: bucket without le", ln)
			}
		}
		if fam.typ == "counter" && (s.value < 0 || math.IsNaN(s.value)) {
			return nil, fmt.Errorf("line %d: counter %s is %v", ln, s.name, s.value)
		}
		key := s.name + "{" + canonicalLabels(s.labels) + "}"
		if seen[key] {
			return nil, fmt.Errorf("line %d: duplicate series %s", ln, key)
		}
		seen[key] = true
		fam.samples = append(fam.samples, s)
	}
	for _, name := range order {
		if fam := fams[name]; fam.typ == "histogram" {
			if err := checkHistogram(fam); err != nil {
				return nil, err
			}
		}
	}
	return fams, nil
}

func canonicalLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, l[k])
	}
	return b.String()
}

func checkHistogram(fam *expFamily) error {
	type series struct {
		les      []float64
		counts   []float64
		inf      float64
		hasInf   bool
		count    float64
		hasCount bool
		hasSum   bool
	}
	all := make(map[string]*series)
	get := func(l map[string]string) *series {
		c := make(map[string]string, len(l))
		for k, v := range l {
			if k != "le" {
				c[k] = v
			}
		}
		key := canonicalLabels(c)
		if all[key] == nil {
			all[key] = &series{}
		}
		return all[key]
	}
	for _, s := range fam.samples {
		se := get(s.labels)
		switch s.name {
		case fam.name + "_bucket":
			le, err := parseFloat(s.labels["le"])
			if err != nil {
				return fmt.Errorf("%s: bad le %q", fam.name, s.labels["le"])
			}
			if math.IsInf(le, 1) {
				se.inf, se.hasInf = s.value, true
				continue
			}
			se.les = append(se.les, le)
			se.counts = append(se.counts, s.value)
		case fam.name + "_sum":
			se.hasSum = true
		case fam.name + "_count":
			se.count, se.hasCount = s.value, true
		}
	}
	for key, se := range all {
		if !se.hasInf || !se.hasCount || !se.hasSum {
			return fmt.Errorf("%s{%s}: missing +Inf bucket, _sum or _count", fam.name, key)
		}
		idx := make([]int, len(se.les))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmpFloat(se.les[a], se.les[b]) })
		prev := 0.0
		for _, i := range idx {
			if se.counts[i] < prev {
				return fmt.Errorf("%s{%s}: bucket le=%v count %v below the previous %v: not cumulative", fam.name, key, se.les[i], se.counts[i], prev)
			}
			prev = se.counts[i]
		}
		if se.inf < prev {
			return fmt.Errorf("%s{%s}: +Inf bucket %v below le buckets", fam.name, key, se.inf)
		}
		if se.inf != se.count {
			return fmt.Errorf("%s{%s}: +Inf bucket %v != _count %v", fam.name, key, se.inf, se.count)
		}
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	return validMetricName(s) && !strings.Contains(s, ":") && !strings.HasPrefix(s, "__")
}

func parseFloat(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if strings.ContainsAny(s, "_xXpP") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return strconv.ParseFloat(s, 64)
}

func parseSample(line string) (expSample, error) {
	s := expSample{labels: map[string]string{}}
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' && line[i] != '\t' {
		i++
	}
	s.name = line[:i]
	if !validMetricName(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
	}
	if i < len(line) && line[i] == '{' {
		i++
		for {
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			j := i
			for j < len(line) && line[j] != '=' {
				j++
			}
			name := line[i:j]
			if !validLabelName(name) {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("label %s repeated", name)
			}
			if j+1 >= len(line) || line[j+1] != '"' {
				return s, fmt.Errorf("label %s: value not quoted", name)
			}
			var v strings.Builder
			k := j + 2
			for ; k < len(line) && line[k] != '"'; k++ {
				if line[k] == '\\' {
					if k+1 >= len(line) {
						return s, fmt.Errorf("label %s: dangling backslash", name)
					}
					switch line[k+1] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("label %s: bad escape \\%c", name, line[k+1])
					}
					k++
					continue
				}
				v.WriteByte(line[k])
			}
			if k >= len(line) {
				return s, fmt.Errorf("label %s: unterminated value", name)
			}
			s.labels[name] = v.String()
			i = k + 1
			if i < len(line) && line[i] == ',' {
				i++
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return s, fmt.Errorf("expected , or } after label %s", name)
		}
	}
	rest := strings.Fields(line[i:])
	if i < len(line) && line[i] != ' ' && line[i] != '\t' {
		return s, fmt.Errorf("no space before the value")
	}
	if len(rest) < 1 || len(rest) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := parseFloat(rest[0])
	if err != nil {
		return s, err
	}
	s.value = v
	if len(rest) == 2 {
		if _, err := strconv.ParseInt(rest[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp %q", rest[1])
		}
	}
	return s, nil
}

// TestExpositionParserRejects proves the checker can fail.
func TestExpositionParserRejects(t *testing.T) {
	t.Parallel()
	good := "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
	if _, err := parseExposition(good); err != nil {
		t.Fatalf("good input rejected: %v", err)
	}
	hist := func(b1, b2, inf, count string) string {
		return "# TYPE h histogram\nh_bucket{le=\"1\"} " + b1 + "\nh_bucket{le=\"2\"} " + b2 + "\nh_bucket{le=\"+Inf\"} " + inf + "\nh_sum 3\nh_count " + count + "\n"
	}
	if _, err := parseExposition(hist("1", "2", "3", "3")); err != nil {
		t.Fatalf("good histogram rejected: %v", err)
	}
	for name, in := range map[string]string{
		"sample before TYPE":     "a_total 1\n# TYPE a_total counter\n",
		"two TYPEs":              "# TYPE a counter\n# TYPE a counter\na 1\n",
		"bad type":               "# TYPE a countr\na 1\n",
		"bad metric name":        "# TYPE 1a counter\n1a 1\n",
		"bad label name":         "# TYPE a counter\na{1x=\"v\"} 1\n",
		"reserved label name":    "# TYPE a counter\na{__x=\"v\"} 1\n",
		"unquoted label":         "# TYPE a counter\na{x=v} 1\n",
		"bad escape":             "# TYPE a counter\na{x=\"\\t\"} 1\n",
		"unterminated":           "# TYPE a counter\na{x=\"v} 1\n",
		"bad value":              "# TYPE a counter\na 1x\n",
		"no value":               "# TYPE a counter\na{x=\"v\"}\n",
		"bad timestamp":          "# TYPE a counter\na 1 1.5\n",
		"negative counter":       "# TYPE a counter\na -1\n",
		"duplicate series":       "# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
		"interleaved families":   "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n",
		"not cumulative":         hist("2", "1", "3", "3"),
		"+Inf != count":          hist("1", "2", "3", "4"),
		"missing +Inf":           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
		"bucket without le":      "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
		"no final line feed":     "# TYPE a counter\na 1",
		"HELP with bad escape":   "# HELP a x\\ty\n# TYPE a counter\na 1\n",
		"histogram bare sample":  "# TYPE h histogram\nh 1\n",
		"repeated label":         "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",
		"junk after labels":      "# TYPE a counter\na{x=\"1\"}1\n",
		"missing comma":          "# TYPE a counter\na{x=\"1\" y=\"2\"} 1\n",
		"TYPE after own samples": "# HELP a x\na 1\n# TYPE a counter\n",
	} {
		if _, err := parseExposition(in); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
}

func newMetricsRouter(t *testing.T, providers ...ProviderConfig) *Router {
	t.Helper()
	rt, err := New(Config{
		Providers: providers,
		Router:    Routes{Default: providers[0].Name + "," + providers[0].Models[0]},
		Fallback:  map[string][]string{"default": {providers[len(providers)-1].Name + "," + providers[len(providers)-1].Models[0]}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func scrape(t *testing.T, m *Metrics) map[string]*expFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	fams, err := parseExposition(rec.Body.String())
	if err != nil {
		t.Fatalf("exposition rejected: %v\n%s", err, rec.Body.String())
	}
	return fams
}

// value returns the value of the sample name{labels}, or -1.
func value(fams map[string]*expFamily, name string, labels ...string) float64 {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range fams {
		for _, s := range f.samples {
			if s.name == name && canonicalLabels(s.labels) == canonicalLabels(want) {
				return s.value
			}
		}
	}
	return -1
}

func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"good-1\",\"content\":[],\"usage\":{\"input_tokens\":11,\"output_tokens\":1,\"cache_read_input_tokens\":4}}}\n\n"+
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"+
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"+
				"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"+
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n"+
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"m2","type":"message","role":"assistant","model":"good-1","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":20,"output_tokens":5}}`)
	}))
	t.Cleanup(good.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`)
	}))
	t.Cleanup(bad.Close)

	anth := []TransformerUse{{Name: "Anthropic"}}
	rt := newMetricsRouter(t,
		ProviderConfig{Name: "flaky", BaseURL: bad.URL, Models: []string{"bad-1"}, Use: anth},
		ProviderConfig{Name: "good", BaseURL: good.URL, Models: []string{"good-1"}, Use: anth},
	)
	m := NewMetrics(rt)

	fams := scrape(t, m) // empty but valid
	if v := value(fams, "ccr_fallbacks_total"); v != 0 {
		t.Errorf("fresh ccr_fallbacks_total = %v", v)
	}

	post := func(body string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "http://127.0.0.1/v1/messages", strings.NewReader(body))
		rt.ServeHTTP(rec, req)
		return rec.Code
	}
	// Routed to flaky (503), falls back to good.
	if c := post(`{"model":"x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`); c != 200 {
		t.Fatalf("fallback request = %d", c)
	}
	if c := post(`{"model":"x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`); c != 200 {
		t.Fatalf("stream request = %d", c)
	}
	// Explicitly routed to good.
	if c := post(`{"model":"good,good-1","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`); c != 200 {
		t.Fatalf("explicit request = %d", c)
	}
	// Rejected before routing.
	if c := post(`{"model":"x"}`); c != 400 {
		t.Fatalf("bad request = %d", c)
	}

	fams = scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ccr_requests_total", []string{"route", "default", "provider", "good", "model", "good-1", "status", "200"}, 2},
		{"ccr_requests_total", []string{"route", "explicit", "provider", "good", "model", "good-1", "status", "200"}, 1},
		{"ccr_requests_total", []string{"route", "none", "provider", "none", "model", "none", "status", "400"}, 1},
		{"ccr_upstream_errors_total", []string{"provider", "flaky", "status", "503"}, 2},
		{"ccr_fallbacks_total", nil, 2},
		{"ccr_tokens_total", []string{"provider", "good", "model", "good-1", "kind", "input"}, 20 + 11 + 20},
		{"ccr_tokens_total", []string{"provider", "good", "model", "good-1", "kind", "output"}, 5 + 7 + 5},
		{"ccr_tokens_total", []string{"provider", "good", "model", "good-1", "kind", "cache_read"}, 4},
		{"ccr_request_duration_seconds_count", []string{"provider", "good", "model", "good-1"}, 3},
		{"ccr_request_duration_seconds_count", []string{"provider", "none", "model", "none"}, 1},
		{"ccr_time_to_first_token_seconds_count", []string{"provider", "good", "model", "good-1"}, 1},
		{"ccr_overhead_seconds_count", []string{"provider", "good"}, 3},
		{"ccr_in_flight_requests", nil, 0},
		{"ccr_open_streams", nil, 0},
		{"ccr_build_info", []string{"version", Version}, 1},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"ccr_requests_total", "ccr_request_duration_seconds", "ccr_time_to_first_token_seconds",
		"ccr_overhead_seconds", "ccr_tokens_total", "ccr_upstream_errors_total", "ccr_fallbacks_total",
		"ccr_in_flight_requests", "ccr_open_streams"} {
		if f := fams[name]; f == nil || f.help == "" || f.typ == "" {
			t.Errorf("family %s missing or without HELP/TYPE", name)
		}
	}

	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", rec.Code)
	}
}

func TestMetricsHistogramBuckets(t *testing.T) {
	t.Parallel()
	rt := newMetricsRouter(t, ProviderConfig{Name: "p", BaseURL: "http://127.0.0.1:1", Models: []string{"m"}})
	m := NewMetrics(rt)
	for _, ms := range []float64{10, 50, 50.0001, 999, 1000, 700000} {
		m.observe(&RequestRecord{Route: "default", Provider: "p", Model: "m", Status: 200, DurationMS: ms})
	}
	fams := scrape(t, m)
	l := func(le string) []string { return []string{"provider", "p", "model", "m", "le", le} }
	for le, want := range map[string]float64{"0.05": 2, "0.1": 3, "0.5": 3, "1": 5, "600": 5, "+Inf": 6} {
		if got := value(fams, "ccr_request_duration_seconds_bucket", l(le)...); got != want {
			t.Errorf("bucket le=%s = %v, want %v", le, got, want)
		}
	}
	if got, want := value(fams, "ccr_request_duration_seconds_sum", "provider", "p", "model", "m"), (10+50+50.0001+999+1000+700000)/1000; math.Abs(got-want) > 1e-9 {
		t.Errorf("sum = %v, want %v", got, want)
	}
}

func TestMetricsLabelBounds(t *testing.T) {
	t.Parallel()
	rt := newMetricsRouter(t, ProviderConfig{Name: "p", BaseURL: "http://127.0.0.1:1", Models: []string{"known"}})
	m := NewMetrics(rt)
	weird := "we\"ird\\mo\ndel"
	m.observe(&RequestRecord{Route: "explicit", Provider: "p", Model: weird, Status: 200})
	for i := range metricsMaxExtraModels + 10 {
		m.observe(&RequestRecord{Route: "explicit", Provider: "p", Model: fmt.Sprintf("unlisted-%d", i), Status: 200})
	}
	for range 3 {
		m.observe(&RequestRecord{Route: "explicit", Provider: "p", Model: "known", Status: 200})
	}
	for i := range metricsMaxExtraProviders + 5 {
		m.observe(&RequestRecord{Route: "weird-route", Provider: fmt.Sprintf("gone-%d", i), Model: "x", Status: 502})
	}
	m.observe(&RequestRecord{Route: "default", Provider: "p", Model: strings.Repeat("x", 1000), Status: 200})

	fams := scrape(t, m)
	if got := value(fams, "ccr_requests_total", "route", "explicit", "provider", "p", "model", weird, "status", "200"); got != 1 {
		t.Errorf("escaped model label = %v, want 1", got)
	}
	if got := value(fams, "ccr_requests_total", "route", "explicit", "provider", "p", "model", "known", "status", "200"); got != 3 {
		t.Errorf("configured model = %v, want 3 (never collapsed)", got)
	}
	// Admitted: the weird one and unlisted-0..62; the rest collapse.
	if got := value(fams, "ccr_requests_total", "route", "explicit", "provider", "p", "model", "other", "status", "200"); got != 11 {
		t.Errorf("collapsed models = %v, want 11", got)
	}
	if got := value(fams, "ccr_requests_total", "route", "other", "provider", "other", "model", "other", "status", "502"); got != 5 {
		t.Errorf("collapsed providers = %v, want 5", got)
	}
	if got := value(fams, "ccr_requests_total", "route", "default", "provider", "p", "model", "other", "status", "200"); got != 1 {
		t.Errorf("overlong model = %v, want 1 (collapsed)", got)
	}
	// known + admitted unlisted + other, per route and provider.
	series := len(fams["ccr_requests_total"].samples)
	if limit := 1 + metricsMaxExtraModels + 1 + metricsMaxExtraProviders + 1 + 1; series > limit {
		t.Errorf("%d request series, want at most %d", series, limit)
	}
}

func TestMetricsConcurrent(t *testing.T) {
	t.Parallel()
	rt := newMetricsRouter(t, ProviderConfig{Name: "p", BaseURL: "http://127.0.0.1:1", Models: []string{"m"}})
	m := NewMetrics(rt)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			m.WriteTo(io.Discard)
		}
	}()
	for i := range 1000 {
		m.observe(&RequestRecord{Route: "default", Provider: "p", Model: "m", Status: 200 + i%2, DurationMS: float64(i), Stream: true, TTFBMS: 1, InputTokens: 1})
	}
	<-done
	fams := scrape(t, m)
	if got := value(fams, "ccr_tokens_total", "provider", "p", "model", "m", "kind", "input"); got != 1000 {
		t.Errorf("tokens = %v, want 1000", got)
	}
}
