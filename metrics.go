package ccr

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Label-cardinality bounds of [Metrics]. Providers and models named in the
// live configuration always get their own label values; names seen only in
// requests (an explicit "provider,model" with an unlisted model, a provider
// removed by a reload) are admitted up to these counts and then collapse
// into "other".
const (
	metricsMaxExtraProviders = 16
	metricsMaxExtraModels    = 64
	metricsMaxLabelLen       = 128
)

// Histogram bucket upper bounds, in seconds.
var (
	durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}
	ttftBuckets     = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60}
	overheadBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25}
)

// Metrics collects a Router's request metrics and serves them in the
// Prometheus text exposition format, version 0.0.4:
//
//	ccr_requests_total{route,provider,model,status}        counter
//	ccr_request_duration_seconds{provider,model}           histogram
//	ccr_time_to_first_token_seconds{provider,model}        histogram (streams)
//	ccr_overhead_seconds{provider}                         histogram
//	ccr_tokens_total{provider,model,kind}                  counter; kind is input, output or cache_read
//	ccr_upstream_errors_total{provider,status}             counter
//	ccr_fallbacks_total                                    counter
//	ccr_in_flight_requests, ccr_open_streams               gauges
//	ccr_build_info{version}                                gauge, always 1
//
// Label values are bounded: see the metricsMax constants. A Metrics does
// not authenticate; mount it behind [Router.Authenticate]. It is safe for
// concurrent use.
type Metrics struct {
	rt *Router

	mu         sync.Mutex
	requests   map[requestLabels]uint64
	duration   map[pmLabels]*histogram
	ttft       map[pmLabels]*histogram
	overhead   map[string]*histogram
	tokens     map[tokenLabels]uint64
	upstream   map[upstreamLabels]uint64
	fallbacks  uint64
	extraProvs map[string]bool
	extraPairs map[pmLabels]bool
}

type requestLabels struct{ route, provider, model, status string }
type pmLabels struct{ provider, model string }
type tokenLabels struct{ provider, model, kind string }
type upstreamLabels struct{ provider, status string }

// histogram holds per-bucket (not cumulative) counts; the last slot is
// +Inf.
type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

func (h *histogram) observe(bounds []float64, v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds)+1)
	}
	i, _ := slices.BinarySearch(bounds, v) // first bound >= v: le is inclusive
	h.counts[i]++
	h.sum += v
	h.n++
}

// NewMetrics returns a Metrics that records every request rt finishes
// from now on, through [Router.Observe].
func NewMetrics(rt *Router) *Metrics {
	m := &Metrics{
		rt:         rt,
		requests:   make(map[requestLabels]uint64),
		duration:   make(map[pmLabels]*histogram),
		ttft:       make(map[pmLabels]*histogram),
		overhead:   make(map[string]*histogram),
		tokens:     make(map[tokenLabels]uint64),
		upstream:   make(map[upstreamLabels]uint64),
		extraProvs: make(map[string]bool),
		extraPairs: make(map[pmLabels]bool),
	}
	rt.Observe(m.observe)
	return m
}

// observe records one finished request.
func (m *Metrics) observe(rec *RequestRecord) {
	st := m.rt.state.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	prov, model := m.labels(st, rec.Provider, rec.Model)
	m.requests[requestLabels{routeLabel(rec.Route), prov, model, strconv.Itoa(rec.Status)}]++
	pm := pmLabels{prov, model}
	hist(m.duration, pm).observe(durationBuckets, rec.DurationMS/1000)
	if rec.Stream && rec.TTFBMS > 0 {
		hist(m.ttft, pm).observe(ttftBuckets, rec.TTFBMS/1000)
	}
	if rec.Route != "" {
		hist(m.overhead, prov).observe(overheadBuckets, rec.OverheadMS/1000)
	}
	for _, t := range []struct {
		kind string
		n    int
	}{{"input", rec.InputTokens}, {"output", rec.OutputTokens}, {"cache_read", rec.CacheRead}} {
		if t.n > 0 {
			m.tokens[tokenLabels{prov, model, t.kind}] += uint64(t.n)
		}
	}
	for i, a := range rec.Attempts {
		if a.Error != "" || a.Status >= 400 {
			ap, _ := m.labels(st, a.Provider, "")
			m.upstream[upstreamLabels{ap, strconv.Itoa(a.Status)}]++
		}
		if i > 0 && (a.Provider != rec.Attempts[i-1].Provider || a.Model != rec.Attempts[i-1].Model) {
			m.fallbacks++
		}
	}
}

func hist[K comparable](m map[K]*histogram, k K) *histogram {
	h := m[k]
	if h == nil {
		h = new(histogram)
		m[k] = h
	}
	return h
}

// labels returns the bounded label values for a provider and model.
// m.mu is held.
func (m *Metrics) labels(st *state, provider, model string) (string, string) {
	if provider == "" {
		return "none", "none"
	}
	p := st.byName[provider]
	if p == nil {
		if len(provider) > metricsMaxLabelLen {
			return "other", "other"
		}
		if !m.extraProvs[provider] {
			if len(m.extraProvs) >= metricsMaxExtraProviders {
				return "other", "other"
			}
			m.extraProvs[provider] = true
		}
	}
	switch {
	case model == "":
		return provider, "none"
	case p != nil && slices.Contains(p.models, model):
		return provider, model
	case len(model) > metricsMaxLabelLen:
		return provider, "other"
	}
	k := pmLabels{provider, model}
	if !m.extraPairs[k] {
		if len(m.extraPairs) >= metricsMaxExtraModels {
			return provider, "other"
		}
		m.extraPairs[k] = true
	}
	return provider, model
}

func routeLabel(route string) string {
	switch route {
	case "":
		return "none"
	case ScenarioDefault, ScenarioBackground, ScenarioThink, ScenarioLongContext, ScenarioWebSearch,
		ScenarioImage, ScenarioExplicit, ScenarioSubagent, ScenarioCustom:
		return route
	}
	return "other"
}

// ServeHTTP writes the metrics. It answers GET and HEAD.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, &Error{Status: http.StatusMethodNotAllowed, Message: "method " + r.Method + " not allowed; use GET"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	m.WriteTo(w)
}

// WriteTo writes the metrics to w in the Prometheus text format. The
// exposition is rendered first, so that a slow w never holds up the
// requests being recorded.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	b := bufio.NewWriter(&buf)
	stats := m.rt.Stats()

	m.mu.Lock()
	family(b, "ccr_requests_total", "counter", "Messages requests finished, by route, provider, model and HTTP status.")
	for _, k := range sortedBy(m.requests, func(k requestLabels) []string { return []string{k.route, k.provider, k.model, k.status} }) {
		sample(b, "ccr_requests_total", labelPairs("route", k.route, "provider", k.provider, "model", k.model, "status", k.status), float64(m.requests[k]))
	}
	pmKey := func(k pmLabels) []string { return []string{k.provider, k.model} }
	family(b, "ccr_request_duration_seconds", "histogram", "Time from request to the end of the response, by provider and model.")
	for _, k := range sortedBy(m.duration, pmKey) {
		writeHistogram(b, "ccr_request_duration_seconds", labelPairs("provider", k.provider, "model", k.model), durationBuckets, m.duration[k])
	}
	family(b, "ccr_time_to_first_token_seconds", "histogram", "Time from request to the first byte of a streamed response, by provider and model.")
	for _, k := range sortedBy(m.ttft, pmKey) {
		writeHistogram(b, "ccr_time_to_first_token_seconds", labelPairs("provider", k.provider, "model", k.model), ttftBuckets, m.ttft[k])
	}
	family(b, "ccr_overhead_seconds", "histogram", "Time ccr itself spent routing and converting a request, by provider.")
	for _, k := range sortedBy(m.overhead, func(k string) []string { return []string{k} }) {
		writeHistogram(b, "ccr_overhead_seconds", labelPairs("provider", k), overheadBuckets, m.overhead[k])
	}
	family(b, "ccr_tokens_total", "counter", "Tokens reported by upstreams, by provider, model and kind (input, output, cache_read).")
	for _, k := range sortedBy(m.tokens, func(k tokenLabels) []string { return []string{k.provider, k.model, k.kind} }) {
		sample(b, "ccr_tokens_total", labelPairs("provider", k.provider, "model", k.model, "kind", k.kind), float64(m.tokens[k]))
	}
	family(b, "ccr_upstream_errors_total", "counter", "Failed upstream attempts, by provider and status (the upstream's, or the one ccr gave a connection failure or timeout).")
	for _, k := range sortedBy(m.upstream, func(k upstreamLabels) []string { return []string{k.provider, k.status} }) {
		sample(b, "ccr_upstream_errors_total", labelPairs("provider", k.provider, "status", k.status), float64(m.upstream[k]))
	}
	family(b, "ccr_fallbacks_total", "counter", "Attempts moved to another provider or model after a failure.")
	sample(b, "ccr_fallbacks_total", "", float64(m.fallbacks))
	m.mu.Unlock()

	family(b, "ccr_in_flight_requests", "gauge", "Messages requests in progress.")
	sample(b, "ccr_in_flight_requests", "", float64(stats.InFlight))
	family(b, "ccr_open_streams", "gauge", "Streamed responses in progress.")
	sample(b, "ccr_open_streams", "", float64(stats.Streams))
	family(b, "ccr_build_info", "gauge", "Always 1; the version label is the ccr version.")
	sample(b, "ccr_build_info", labelPairs("version", Version), 1)
	b.Flush()
	return buf.WriteTo(w)
}

// sortedBy returns m's keys ordered by the label values key returns.
func sortedBy[K comparable, V any](m map[K]V, key func(K) []string) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return slices.Compare(key(a), key(b)) })
	return keys
}

func family(b *bufio.Writer, name, typ, help string) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(escapeHelp(help))
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(typ)
	b.WriteByte('\n')
}

// labelPairs renders name/value pairs as the inside of a label set.
func labelPairs(kv ...string) string {
	var s strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(kv[i])
		s.WriteString(`="`)
		s.WriteString(escapeLabel(kv[i+1]))
		s.WriteByte('"')
	}
	return s.String()
}

func sample(b *bufio.Writer, name, labels string, v float64) {
	b.WriteString(name)
	if labels != "" {
		b.WriteByte('{')
		b.WriteString(labels)
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

func writeHistogram(b *bufio.Writer, name, labels string, bounds []float64, h *histogram) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, ub := range bounds {
		cum += h.counts[i]
		sample(b, name+"_bucket", labels+sep+`le="`+formatFloat(ub)+`"`, float64(cum))
	}
	sample(b, name+"_bucket", labels+sep+`le="+Inf"`, float64(h.n))
	sample(b, name+"_sum", labels, h.sum)
	sample(b, name+"_count", labels, float64(h.n))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeLabel escapes a label value: backslash, double quote and line feed.
func escapeLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes a HELP docstring: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
