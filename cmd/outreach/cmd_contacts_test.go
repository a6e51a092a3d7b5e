package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// contactsCSV generates n rows; bad maps a line number to a broken row.
func contactsCSV(n int, bad map[int]string) string {
	var b strings.Builder
	b.WriteString("email,first_name,last_name,title,institution,timezone,addresses,paper\n")
	for i := 0; i < n; i++ {
		line := i + 2
		if row, ok := bad[line]; ok {
			b.WriteString(row + "\n")
			continue
		}
		fmt.Fprintf(&b, "prof%05d@med.example.edu,Ana%d,Souza,Professor,Example University,America/Chicago,a%05d@gmail.example,\"Outcomes, %d\"\n",
			i, i, i, i)
	}
	return b.String()
}

func listJSON(t *testing.T, env map[string]string) []map[string]any {
	t.Helper()
	r := cli(t, env, "", "contacts", "list", "--json")
	if r.code != 0 {
		t.Fatalf("contacts list: %+v", r)
	}
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestImportWithThreeBadRowsImportsNothingAndListsThem(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	bad := map[int]string{
		17: "not-an-email,Bad,Row,,,,,",
		42: "prof00028@med.example.edu,Dup,Row,,,,,", // line 30's address again
		88: "tz@example.edu,Bad,Zone,,,Europe/Atlantis,,",
	}
	path := writeFile(t, "contacts.csv", contactsCSV(100, bad))

	r := cli(t, env, "", "contacts", "import", path)
	if r.code != exitInvalid {
		t.Fatalf("exit %d, want %d; %+v", r.code, exitInvalid, r)
	}
	lines := regexp.MustCompile(`contacts\.csv:(\d+): `).FindAllStringSubmatch(r.stderr, -1)
	var got []string
	for _, m := range lines {
		got = append(got, m[1])
	}
	if want := []string{"17", "42", "88"}; !slices.Equal(got, want) {
		t.Fatalf("reported lines %v, want exactly %v\n%s", got, want, r.stderr)
	}
	if !strings.Contains(r.stderr, "nothing was imported") {
		t.Errorf("stderr does not say nothing was imported:\n%s", r.stderr)
	}
	if n := len(listJSON(t, env)); n != 0 {
		t.Fatalf("%d contacts in the database, want 0", n)
	}

	r = cli(t, env, "", "contacts", "import", "--skip-invalid", "--json", path)
	var sum importSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 0 {
		t.Fatalf("--skip-invalid: %+v (%v)", r, err)
	}
	if sum.Created != 97 || len(sum.Refused) != 3 || !sum.Imported {
		t.Fatalf("--skip-invalid summary %+v, want 97 created and 3 refused", sum)
	}
	if n := len(listJSON(t, env)); n != 97 {
		t.Fatalf("%d contacts, want 97", n)
	}
}

func TestImportTenThousandRowsThenReimportUpdates(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	path := writeFile(t, "big.csv", contactsCSV(10_000, nil))
	if r := cli(t, env, "", "contacts", "import", path); r.code != 0 ||
		!strings.Contains(r.stdout, "10000 contacts created, 0 contacts updated") {
		t.Fatalf("first import: %+v", r)
	}
	// Same people, matched by their second address, with a new title.
	again := strings.ReplaceAll(contactsCSV(10_000, nil), "Professor", "Chair")
	again = regexp.MustCompile(`(?m)^prof(\d+)@med\.example\.edu,`).ReplaceAllString(again, "a$1@gmail.example,")
	path2 := writeFile(t, "again.csv", strings.Replace(again, "addresses", "notes", 1))
	if r := cli(t, env, "", "contacts", "import", path2); r.code != 0 ||
		!strings.Contains(r.stdout, "0 contacts created, 10000 contacts updated") {
		t.Fatalf("re-import: %+v", r)
	}
	all := listJSON(t, env)
	if len(all) != 10_000 {
		t.Fatalf("%d contacts after re-import, want 10000", len(all))
	}
	c := all[0]
	if c["title"] != "Chair" || len(c["addresses"].([]any)) != 2 {
		t.Errorf("re-imported contact: %v", c)
	}
}

func TestContactsAddBlockAndList(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	r := cli(t, env, "", "contacts", "add", "--email", "Wei Li <Wei.Li@Tokyo-Med.example.jp>", "--first-name", "Wei",
		"--last-name", "Li", "--timezone", "Asia/Tokyo", "--address", "wei@personal.example", "--set", "paper=Stones")
	if r.code != 0 {
		t.Fatalf("add: %+v", r)
	}
	if r := cli(t, env, "", "contacts", "add", "--email", "WEI@personal.example"); r.code != exitConflict {
		t.Fatalf("adding a known address: %+v, want exit %d", r, exitConflict)
	}
	if r := cli(t, env, "", "contacts", "add", "--email", "x@example.edu", "--timezone", "Tokyo"); r.code != exitInvalid ||
		!strings.Contains(r.stderr, "IANA") {
		t.Fatalf("adding with a bad time zone: %+v", r)
	}
	if r := cli(t, env, "", "contacts", "block", "wei@personal.example", "--reason", "asked"); r.code != 0 ||
		!strings.Contains(r.stdout, "wei.li@tokyo-med.example.jp, wei@personal.example") {
		t.Fatalf("block: %+v", r)
	}
	if r := cli(t, env, "", "contacts", "block", "nobody@example.edu"); r.code != exitNotFound {
		t.Fatalf("blocking an unknown address: %+v, want exit %d", r, exitNotFound)
	}
	r = cli(t, env, "", "contacts", "list", "--blocked", "--json")
	var c struct {
		Email     string            `json:"email"`
		BlockedAt *string           `json:"blocked_at"`
		Extra     map[string]string `json:"extra"`
		Timezone  string            `json:"timezone"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("list --blocked --json: %v\n%s", err, r.stdout)
	}
	if c.Email != "wei.li@tokyo-med.example.jp" || c.BlockedAt == nil || c.Extra["paper"] != "Stones" || c.Timezone != "Asia/Tokyo" {
		t.Errorf("blocked contact %+v", c)
	}
	if r := cli(t, env, "", "contacts", "list", "--unblocked"); r.code != 0 || strings.Contains(r.stdout, "wei") {
		t.Errorf("list --unblocked shows a blocked contact: %+v", r)
	}
}

// Without any database URL, outreach starts a PostgreSQL of its own in the
// data directory, keeps it for the next command, and stops it on request.
func TestLocalDatabaseStartsOnDemand(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "outreach-data-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must enter it when we are root
		t.Fatal(err)
	}
	env := map[string]string{"OUTREACH_DATA_DIR": dir, "HOME": dir}
	t.Cleanup(func() {
		cli(t, env, "", "db", "stop")
		os.RemoveAll(dir)
	})
	path := writeFile(t, "c.csv", contactsCSV(3, nil))
	r := cli(t, env, "", "contacts", "import", path)
	if r.code != 0 || !strings.Contains(r.stderr, "started the local database") {
		t.Fatalf("first import: %+v", r)
	}
	if n := len(listJSON(t, env)); n != 3 {
		t.Fatalf("%d contacts, want 3", n)
	}
	if r := cli(t, env, "", "db", "stop"); r.code != 0 || !strings.Contains(r.stdout, "stopped") {
		t.Fatalf("db stop: %+v", r)
	}
	if r := cli(t, env, "", "db", "status"); !strings.Contains(r.stdout, "stopped") {
		t.Fatalf("db status after stop: %+v", r)
	}
	if n := len(listJSON(t, env)); n != 3 {
		t.Fatalf("after a restart: %d contacts, want 3 (the data must survive)", n)
	}
}
