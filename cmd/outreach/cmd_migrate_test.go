package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/outreach/outreach/store/storetest"
)

func TestMigrateTwiceThenCommandsRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OUTREACH_DATABASE_URL": storetest.URL(t), "HOME": t.TempDir()}

	r := cli(t, env, "", "contacts", "list")
	if r.code != exitSchema || !strings.Contains(r.stderr, "run `outreach migrate`") {
		t.Fatalf("a command on an unmigrated database: %+v, want exit %d naming `outreach migrate`", r, exitSchema)
	}
	r = cli(t, env, "", "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, "applied 1 migration") {
		t.Fatalf("first migrate: %+v", r)
	}
	r = cli(t, env, "", "migrate", "--json")
	var out struct {
		Applied []int64 `json:"applied"`
		Version int64   `json:"version"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("second migrate: %+v (%v)", r, err)
	}
	if len(out.Applied) != 0 || out.Version != 1 {
		t.Fatalf("second migrate applied %v, version %d; want nothing at version 1", out.Applied, out.Version)
	}
	if r := cli(t, env, "", "contacts", "list"); r.code != 0 {
		t.Fatalf("contacts list after migrate: %+v", r)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"contacts", "list", "--no-such-flag"}, {"contacts", "import"},
		{"contacts", "list", "--blocked", "--unblocked"}} {
		if r := cli(t, map[string]string{"OUTREACH_DATABASE_URL": "postgres://127.0.0.1:1/x?connect_timeout=2"}, "", args...); r.code != exitInvalid {
			t.Errorf("%v: exit %d (%s), want %d", args, r.code, r.stderr, exitInvalid)
		}
	}
}
