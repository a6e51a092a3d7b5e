package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/outreach/outreach/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// result is what one in-process run of the CLI printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the CLI in-process with the given environment (nothing is read
// from the real one, so the user's configuration never leaks in).
func cli(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(context.Background(), args, ioEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: getenv})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// dbEnv is an environment whose database is a fresh, migrated test database.
func dbEnv(t *testing.T) map[string]string {
	t.Helper()
	url := storetest.URL(t)
	env := map[string]string{"OUTREACH_DATABASE_URL": url, "HOME": t.TempDir()}
	if r := cli(t, env, "", "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	return env
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
