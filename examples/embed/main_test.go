package main

import (
	"fmt"
	"log"
)

func Example() {
	rt, err := newRouter("sk-example")
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	fmt.Println(rt.Config().Router.Default)
	// Output: deepseek,deepseek-chat
}
