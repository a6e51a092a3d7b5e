package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/outreach/outreach/migrations"
	"github.com/outreach/outreach/store/storetest"
)

func TestMigrateTwiceThenCommandsRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OUTREACH_DATABASE_URL": storetest.URL(t), "HOME": t.TempDir()}

	r := cli(t, env, "", "contacts", "list")
	if r.code != exitSchema || !strings.Contains(r.stderr, "run `outreach migrate`") {
		t.Fatalf("a command on an unmigrated database: %+v, want exit %d naming `outreach migrate`", r, exitSchema)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	target := int64(len(files))
	r = cli(t, env, "", "migrate")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("applied %s", plural(len(files), "migration"))) ||
		!strings.Contains(r.stdout, fmt.Sprintf("schema is at version %d", target)) {
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
	if len(out.Applied) != 0 || out.Version != target {
		t.Fatalf("second migrate applied %v, version %d; want nothing at version %d", out.Applied, out.Version, target)
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
