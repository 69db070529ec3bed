package ccr

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseConfig: any bytes give a Config or a *ConfigError (never a
// panic, never another error type), the same every time; a Config that
// parses is accepted or refused by Validate and New with a *ConfigError,
// again without panicking.
func FuzzParseConfig(f *testing.F) {
	ref, err := os.ReadFile("testdata/config/reference-example.json5")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref)
	for _, s := range []string{
		`{}`,
		`{"Providers":[{"name":"a","api_base_url":"http://127.0.0.1:1/v1/messages","api_key":["k1","k2"],"models":["m"],"transformer":{"use":["Anthropic"]},"max_concurrency":2}],"Router":{"default":"a,m"},"fallback":{"default":["a,m"]}}`,
		`{Providers:[{name:'a',api_base_url:'http://x/',api_key:'$K',models:['m'],transformer:{use:[['maxtoken',{max_tokens:8}]],m:{use:['reasoning']}}}],Router:{default:'a,m',longContextThreshold:'5'}}`,
		`{"API_TIMEOUT_MS":"600000","STREAM_IDLE_TIMEOUT_MS":-1,"PORT":"99999","LOG_LEVEL":"trace","APIKEY":"${UNSET}"}`,
		`{"Providers":{},"Router":[],"fallback":{"default":"a,m"}}`,
		`{"Providers":[{"name":"a,b","api_base_url":"ftp://x"},{"name":"a"},{"name":"a"}]}`,
		`[]`, `null`, `{"a":`, "\xff\xfe", `{"Router":{"default":"ghost,m"}}`,
	} {
		f.Add([]byte(s))
	}
	getenv := func(k string) string {
		if k == "K" {
			return "sk-from-env"
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, warnings, err := ParseConfig(strings.NewReader(string(in)), getenv)
		checkConfigErr(t, "ParseConfig", err)
		for _, w := range warnings {
			if w.Message == "" {
				t.Fatalf("warning without a message at %q", w.Path)
			}
		}
		cfg2, warnings2, err2 := ParseConfig(strings.NewReader(string(in)), getenv)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || !reflect.DeepEqual(warnings, warnings2) ||
			err == nil && !reflect.DeepEqual(cfg.Providers, cfg2.Providers) {
			t.Fatalf("ParseConfig is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			return
		}
		cfg.Logger = discardLogger()
		verr := Validate(cfg)
		checkConfigErr(t, "Validate", verr)
		rt, nerr := New(cfg)
		checkConfigErr(t, "New", nerr)
		if (verr == nil) != (nerr == nil) {
			t.Fatalf("Validate says %v, New says %v", verr, nerr)
		}
		if rt != nil {
			rt.Close()
		}
	})
}

// checkConfigErr fails unless err is nil or a *ConfigError listing at
// least one problem, each with a message.
func checkConfigErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %T %v is not a *ConfigError", what, err, err)
	}
	if len(ce.Problems) == 0 {
		t.Fatalf("%s: *ConfigError without problems", what)
	}
	for _, p := range ce.Problems {
		if p.Message == "" {
			t.Fatalf("%s: problem at %q without a message", what, p.Path)
		}
	}
}
