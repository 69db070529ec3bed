package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report is the whole run. Latencies are in milliseconds, memory in KiB.
type report struct {
	Machine      machine          `json:"machine"`
	Quick        bool             `json:"quick"`
	Seconds      float64          `json:"seconds"`
	RequestBytes int              `json:"request_bytes"`
	IdleRSSKB    map[string]int64 `json:"idle_rss_kib"`
	FinalRSSKB   map[string]int64 `json:"final_rss_kib"`
	LongSpec     string           `json:"long_streams_spec"`
	Long         []longStats      `json:"long_streams"`
	Phases       []phase          `json:"phases"`
	Checks       []check          `json:"checks"`
}

// phase is one closed-loop load sent to every target in turn.
type phase struct {
	Name        string `json:"name"`
	Concurrency int    `json:"concurrency"`
	Stream      bool   `json:"stream"`
	Rows        []row  `json:"targets"`
}

// row is one target's figures in a phase. Added figures are relative to
// calling the upstream directly; ratios are relative to the bare proxy.
type row struct {
	Target        string  `json:"target"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	RPS           float64 `json:"requests_per_s"`
	CPUMs         float64 `json:"cpu_ms_per_request,omitempty"`
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
	TTFB50        float64 `json:"ttfb_p50_ms"`
	TTFB99        float64 `json:"ttfb_p99_ms"`
	AddedP50      float64 `json:"added_p50_ms"`
	AddedP99      float64 `json:"added_p99_ms"`
	AddedTTFB50   float64 `json:"added_ttfb_p50_ms"`
	UpstreamConns int64   `json:"upstream_conns_opened"`
	RPSRatio      float64 `json:"rps_ratio,omitempty"`
	CPURatio      float64 `json:"cpu_ratio,omitempty"`
	AddedP50Ratio float64 `json:"added_p50_ratio,omitempty"`
	AddedTTFBDiff float64 `json:"added_ttfb_p50_minus_proxy_ms,omitempty"`
	AddedP50Diff  float64 `json:"added_p50_minus_proxy_ms,omitempty"`
}

func loadRow(name string, m measurement) row {
	r := row{Target: name, Requests: m.ok, Errors: m.errs, RPS: float64(m.ok) / m.window.Seconds(),
		P50: pct(m.lat, .5), P99: pct(m.lat, .99), TTFB50: pct(m.ttfb, .5), TTFB99: pct(m.ttfb, .99), UpstreamConns: m.upConns}
	if m.firstErr != nil {
		r.FirstError = m.firstErr.Error()
	}
	if m.ok > 0 && m.cpu > 0 {
		r.CPUMs = ms(m.cpu) / float64(m.ok)
	}
	return r
}

// relate fills in the added latencies and the ratios to the proxy.
func (ph *phase) relate() {
	var d, p *row
	for i := range ph.Rows {
		switch ph.Rows[i].Target {
		case direct:
			d = &ph.Rows[i]
		case proxy:
			p = &ph.Rows[i]
		}
	}
	for i := range ph.Rows {
		r := &ph.Rows[i]
		if d != nil && r != d {
			r.AddedP50, r.AddedP99, r.AddedTTFB50 = r.P50-d.P50, r.P99-d.P99, r.TTFB50-d.TTFB50
		}
	}
	for i := range ph.Rows {
		r := &ph.Rows[i]
		if p == nil || r == p || r == d {
			continue
		}
		r.RPSRatio = ratio(r.RPS, p.RPS)
		r.CPURatio = ratio(r.CPUMs, p.CPUMs)
		r.AddedP50Ratio = ratio(r.AddedP50, p.AddedP50)
		r.AddedP50Diff = r.AddedP50 - p.AddedP50
		r.AddedTTFBDiff = r.AddedTTFB50 - p.AddedTTFB50
	}
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// longStats is one target's long-stream figures.
type longStats struct {
	Target        string  `json:"target"`
	Streams       int     `json:"streams"`
	Served        int     `json:"served"`
	Cut           int     `json:"cut"`
	FirstError    string  `json:"first_error,omitempty"`
	AllOpen       bool    `json:"all_open_at_once"`
	TTFB50        float64 `json:"ttfb_p50_ms"`
	TTFB99        float64 `json:"ttfb_p99_ms"`
	AddedTTFB50   float64 `json:"added_ttfb_p50_ms"`
	RSSBeforeKB   int64   `json:"rss_before_kib,omitempty"`
	RSSOpenKB     int64   `json:"rss_open_kib,omitempty"`
	PerStreamKB   float64 `json:"rss_per_open_stream_kib,omitempty"`
	CPUMs         float64 `json:"cpu_ms_per_stream,omitempty"`
	UpstreamConns int64   `json:"upstream_conns_opened"`
	PerStreamRat  float64 `json:"rss_per_stream_ratio,omitempty"`
	CPURatio      float64 `json:"cpu_ratio,omitempty"`
}

func longRow(name string, s longSpec, r longResult, d longResult) longStats {
	l := longStats{Target: name, Streams: s.n, Served: r.served, Cut: r.cut, AllOpen: r.allOpen,
		TTFB50: pct(r.ttfb, .5), TTFB99: pct(r.ttfb, .99), RSSBeforeKB: r.rssBefore, RSSOpenKB: r.rssOpen, UpstreamConns: r.upConns}
	if r.firstErr != nil {
		l.FirstError = r.firstErr.Error()
	}
	if name != direct {
		l.AddedTTFB50 = l.TTFB50 - pct(d.ttfb, .5)
	}
	if r.rssOpen > 0 {
		l.PerStreamKB = float64(r.rssOpen-r.rssBefore) / float64(s.n)
	}
	if r.served > 0 && r.cpu > 0 {
		l.CPUMs = ms(r.cpu) / float64(s.n)
	}
	return l
}

// check is one of issue 10's targets.
type check struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Pass  bool   `json:"pass"`
}

func (rep *report) find(phase, target string) *row {
	for i := range rep.Phases {
		if rep.Phases[i].Name != phase {
			continue
		}
		for j := range rep.Phases[i].Rows {
			if rep.Phases[i].Rows[j].Target == target {
				return &rep.Phases[i].Rows[j]
			}
		}
	}
	return &row{}
}

func (rep *report) long(target string) longStats {
	for _, l := range rep.Long {
		if l.Target == target {
			return l
		}
	}
	return longStats{}
}

func (rep *report) check() {
	add := func(name string, pass bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, check{Name: name, Value: fmt.Sprintf(format, args...), Pass: pass})
	}
	for i := range rep.Long {
		if rep.Long[i].Target == proxy {
			for j := range rep.Long {
				l := &rep.Long[j]
				if strings.HasPrefix(l.Target, "ccr") {
					l.PerStreamRat = ratio(l.PerStreamKB, rep.Long[i].PerStreamKB)
					l.CPURatio = ratio(l.CPUMs, rep.Long[i].CPUMs)
				}
			}
		}
	}
	if rep.find("json c=16", proxy).Target != "" && rep.find("json c=1", proxy).Target != "" {
		oa, an := rep.find("json c=16", ccrOA), rep.find("json c=16", ccrAn)
		add("CPU per converted request (c=16) <= 3x proxy", oa.CPURatio > 0 && oa.CPURatio <= 3, "%.2fx (%.3f ms)", oa.CPURatio, oa.CPUMs)
		add("CPU per Anthropic passthrough request (c=16) <= 1.3x proxy", an.CPURatio > 0 && an.CPURatio <= 1.3, "%.2fx (%.3f ms)", an.CPURatio, an.CPUMs)
		for _, t := range []string{ccrAn, ccrOA} {
			r := rep.find("json c=1", t)
			add(t+": added p50 at c=1 within 0.3 ms of proxy's", r.Requests > 0 && r.AddedP50Diff <= 0.3, "%+.3f ms (%.3f vs %.3f)", r.AddedP50Diff, r.AddedP50, r.AddedP50-r.AddedP50Diff)
		}
		for _, t := range []string{ccrAn, ccrOA} {
			r := rep.find("json c=16", t)
			add(t+": req/s at c=16 >= 0.5x proxy", r.RPSRatio >= 0.5, "%.2fx (%.0f/s)", r.RPSRatio, r.RPS)
		}
	}
	for _, t := range []string{ccrAn, ccrOA} {
		l := rep.long(t)
		if l.Streams == 0 {
			continue
		}
		add(t+": long streams all served, none cut", l.Streams > 0 && l.Served == l.Streams && l.Cut == 0 && l.AllOpen, "%d/%d served, %d cut", l.Served, l.Streams, l.Cut)
		add(t+": long streams TTFB added p50 < 5 ms", l.Served > 0 && l.AddedTTFB50 < 5, "%.2f ms", l.AddedTTFB50)
		add(t+": RSS per open stream < 64 KiB", l.RSSOpenKB > 0 && l.PerStreamKB < 64, "%.1f KiB", l.PerStreamKB)
	}
	for _, t := range []string{ccrAn, ccrOA} {
		kb := rep.IdleRSSKB[t]
		add(t+": idle RSS after warm-up < 48 MiB", kb > 0 && kb < 48<<10, "%.1f MiB", float64(kb)/1024)
	}
}

func (rep *report) print(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "ccr load benchmark: %d CPUs, %s, load average %.2f at start, %.2f at end; %.0f s%s\n",
		m.CPUs, m.GoVersion, m.LoadStart[0], m.LoadEnd[0], rep.Seconds, map[bool]string{true: " (-quick)"}[rep.Quick])
	fmt.Fprintf(w, "request: %d bytes; added = minus calling the upstream directly; ratios are to the bare proxy\n\n", rep.RequestBytes)
	fmt.Fprintf(w, "idle RSS after warm-up: proxy %s, ccr-anthropic %s, ccr-openai %s\n",
		mib(rep.IdleRSSKB[proxy]), mib(rep.IdleRSSKB[ccrAn]), mib(rep.IdleRSSKB[ccrOA]))
	fmt.Fprintf(w, "RSS after the run:      proxy %s, ccr-anthropic %s, ccr-openai %s\n\n",
		mib(rep.FinalRSSKB[proxy]), mib(rep.FinalRSSKB[ccrAn]), mib(rep.FinalRSSKB[ccrOA]))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "long streams: %s\t\t\t\t\t\t\t\t\t\t\n", rep.LongSpec)
	fmt.Fprintln(tw, "target\tserved\tcut\tTTFB p50\tp99\tadded\tRSS open\tper stream\tratio\tCPU/stream\tratio\tup conns\t")
	for _, l := range rep.Long {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", l.Target, l.Served, l.Cut, l.TTFB50, l.TTFB99,
			addedStr(l.Target, l.AddedTTFB50), mib(l.RSSOpenKB), kib(l.PerStreamKB), x(l.PerStreamRat), msStr(l.CPUMs), x(l.CPURatio), l.UpstreamConns)
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
	for _, ph := range rep.Phases {
		fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t\t\t\t\n", ph.Name)
		if ph.Stream {
			fmt.Fprintln(tw, "target\treq/s\tratio\tCPU ms/req\tratio\tp50\tp99\tadded p50\tadded p99\tTTFB p50\tadded\tup conns\t")
		} else {
			fmt.Fprintln(tw, "target\treq/s\tratio\tCPU ms/req\tratio\tp50\tp99\tadded p50\tadded p99\tvs proxy\t\tup conns\t")
		}
		for _, r := range ph.Rows {
			last := fmt.Sprintf("%s\t", diff(r.Target, r.AddedP50Diff))
			if ph.Stream {
				last = fmt.Sprintf("%.2f\t%s", r.TTFB50, addedStr(r.Target, r.AddedTTFB50))
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%d\t\n", r.Target, r.RPS, x(r.RPSRatio), msStr(r.CPUMs), x(r.CPURatio),
				r.P50, r.P99, addedStr(r.Target, r.AddedP50), addedStr(r.Target, r.AddedP99), last, r.UpstreamConns)
			if r.Errors > 0 {
				fmt.Fprintf(tw, "  %d errors, first: %.60s\t\t\t\t\t\t\t\t\t\t\t\t\n", r.Errors, r.FirstError)
			}
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
	}
	tw.Flush()
	for _, l := range rep.Long {
		if l.FirstError != "" {
			fmt.Fprintf(w, "long streams %s: first error: %s\n", l.Target, l.FirstError)
		}
	}
	fmt.Fprintln(w, "targets (issue 10):")
	for _, c := range rep.Checks {
		mark := "ok  "
		if !c.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-62s %s\n", mark, c.Name, c.Value)
	}
}

func mib(kb int64) string {
	if kb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}

func kib(kb float64) string {
	if kb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f KiB", kb)
}

func x(r float64) string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", r)
}

func msStr(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

func addedStr(target string, v float64) string {
	if target == direct {
		return ""
	}
	return fmt.Sprintf("%+.2f", v)
}

func diff(target string, v float64) string {
	if target == direct || target == proxy {
		return ""
	}
	return fmt.Sprintf("%+.2f", v)
}
