package binary

import (
	"fmt"
	"log"
	"os"

	"github.com/ccrgo/ccr"
)

func Example() {
	f, err := os.Open("config.json")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{"CCR_KEY": "client-key", "DEEPSEEK_API_KEY": "sk-example"}
	cfg, warnings, err := ccr.ParseConfig(f, func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(cfg.Providers), cfg.Router.Default, len(warnings))
	// Output: 2 deepseek,deepseek-chat 0
}
