// Command outreach is the Outreach CLI and daemon: one binary with
// subcommands. It parses flags and configuration and wires the packages
// together; no other package imports it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // contacts' time zones must resolve on machines without tzdata
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := startProfile(os.Getenv)
	code := run(ctx, os.Args[1:], ioEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	endProfile()
	os.Exit(code)
}
