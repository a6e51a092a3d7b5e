package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/contactcsv"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

func row(line int, email string, more ...string) outreach.ContactRow {
	return outreach.ContactRow{Line: line, Contact: outreach.Contact{Email: email,
		Addresses: append([]string{email}, more...)}}
}

func TestImportCreatesThenUpdatesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	first := row(2, "chen@example.edu", "chen@gmail.com")
	first.Contact.FirstName, first.Contact.Institution = "Mei", "Old Hospital"
	first.Contact.Extra = map[string]string{"paper": "PCNL outcomes"}
	rep, err := st.ImportContacts(ctx, store.ImportRequest{
		Columns: []string{"email", "first_name", "institution", "addresses"},
		Rows:    []outreach.ContactRow{first, row(3, "okafor@example.org")}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || rep.Updated != 0 {
		t.Fatalf("first import: %+v", rep)
	}
	// Matched by her second address; the CSV has no first_name column, so the
	// stored first name stays; a new address and a new extra column arrive.
	again := row(2, "chen@gmail.com", "mchen@newhospital.example")
	again.Contact.Institution = "New Hospital"
	again.Contact.Extra = map[string]string{"topic": "stones"}
	rep, err = st.ImportContacts(ctx, store.ImportRequest{
		Columns: []string{"email", "institution", "addresses"}, Rows: []outreach.ContactRow{again}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 0 || rep.Updated != 1 {
		t.Fatalf("re-import: %+v", rep)
	}
	all, err := st.Contacts(ctx, store.ContactFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d contacts after re-import, want 2", len(all))
	}
	c, err := st.ContactByAddress(ctx, "MCHEN@newhospital.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.FirstName != "Mei" || c.Institution != "New Hospital" || c.Email != "chen@gmail.com" {
		t.Errorf("updated contact: %+v", c)
	}
	wantAddrs := []string{"chen@gmail.com", "chen@example.edu", "mchen@newhospital.example"}
	if !reflect.DeepEqual(c.Addresses, wantAddrs) {
		t.Errorf("addresses %v, want %v (primary first)", c.Addresses, wantAddrs)
	}
	if want := map[string]string{"paper": "PCNL outcomes", "topic": "stones"}; !reflect.DeepEqual(c.Extra, want) {
		t.Errorf("extra %v, want %v", c.Extra, want)
	}
}

func TestImportRefusesRowsThatMergeContacts(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email"},
		Rows: []outreach.ContactRow{row(2, "a@example.edu"), row(3, "b@example.edu")}}); err != nil {
		t.Fatal(err)
	}
	bad := row(7, "a@example.edu", "b@example.edu")
	rep, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "addresses"},
		Rows: []outreach.ContactRow{row(6, "new@example.edu"), bad}})
	if !outreach.IsKind(err, outreach.KindInvalid) {
		t.Fatalf("got %v, want the rows refused", err)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Line != 7 || !strings.Contains(rep.Refused[0].Reason, "2 different contacts") {
		t.Fatalf("refused %+v, want line 7 for merging two contacts", rep.Refused)
	}
	if _, err := st.ContactByAddress(ctx, "new@example.edu"); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Fatalf("a good row was imported although another was refused (err %v)", err)
	}
	rep, err = st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "addresses"},
		Rows: []outreach.ContactRow{row(6, "new@example.edu"), bad}, SkipInvalid: true})
	if err != nil || rep.Created != 1 || len(rep.Refused) != 1 {
		t.Fatalf("with SkipInvalid: %+v, %v", rep, err)
	}
}

func TestAddRefusesAnExistingContact(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	req := store.ImportRequest{Columns: []string{"email"}, Rows: []outreach.ContactRow{row(1, "x@example.edu")}, CreateOnly: true}
	if _, err := st.ImportContacts(ctx, req); err != nil {
		t.Fatal(err)
	}
	rep, err := st.ImportContacts(ctx, req)
	if !outreach.IsKind(err, outreach.KindInvalid) || len(rep.Refused) != 1 {
		t.Fatalf("adding twice: %+v, %v", rep, err)
	}
}

func TestBlockStopsEverythingForThePerson(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	st := storetest.New(t, func() time.Time { return now })
	ctx := context.Background()
	f := newThread(t, st, "blockme@example.edu")
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "addresses"},
		Rows: []outreach.ContactRow{row(2, "blockme@example.edu", "personal@example.com")}}); err != nil {
		t.Fatal(err)
	}
	draft := f.approvedDraft(t, 1)
	c, err := st.BlockContact(ctx, "PERSONAL@example.com", "asked not to be contacted")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Blocked() || !c.BlockedAt.Equal(now) || c.BlockedReason != "asked not to be contacted" {
		t.Fatalf("blocked contact: %+v", c)
	}
	if state, _ := st.ThreadState(ctx, f.threadID); state != outreach.ThreadBlocked {
		t.Errorf("thread state %s, want blocked", state)
	}
	if err := st.BeginSending(ctx, draft); !outreach.IsKind(err, outreach.KindConflict) {
		t.Errorf("sending a draft of a blocked contact: got %v, want a conflict", err)
	}
	if _, err := st.BlockContact(ctx, "blockme@example.edu", "again"); err != nil {
		t.Fatalf("blocking twice: %v", err)
	}
	events, err := st.Events(ctx, store.EventFilter{ContactID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if want := []string{"thread_started", "contact_blocked", "draft_superseded", "thread_blocked"}; !reflect.DeepEqual(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	if _, err := st.BlockContact(ctx, "nobody@example.edu", ""); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("blocking an unknown address: got %v, want not found", err)
	}
}

// BenchmarkImportContacts imports 10,000 new contacts in one transaction and
// reports rows per second. Its baseline, in the same run, is the floor: the
// same rows sent with COPY into a table with no index or constraint.
func BenchmarkImportContacts(b *testing.B) {
	const n = 10_000
	rows := make([]outreach.ContactRow, n)
	for i := range rows {
		rows[i] = row(i+2, fmt.Sprintf("faculty%05d@example.edu", i), fmt.Sprintf("f%05d@gmail.example", i))
		rows[i].Contact.FirstName, rows[i].Contact.LastName = "First", fmt.Sprintf("Last%05d", i)
		rows[i].Contact.Institution, rows[i].Contact.Timezone = "University Hospital", "America/Chicago"
		rows[i].Contact.Extra = map[string]string{"paper": "A study", "specialty": "urology"}
	}
	cols := []string{"email", "first_name", "last_name", "institution", "timezone", "addresses"}
	b.Run("import", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			st := storetest.New(b, nil)
			b.StartTimer()
			rep, err := st.ImportContacts(context.Background(), store.ImportRequest{Columns: cols, Rows: rows})
			if err != nil || rep.Created != n {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	// The whole path of `outreach contacts import`: CSV bytes parsed and
	// validated, then imported.
	var csvFile strings.Builder
	csvFile.WriteString("email,first_name,last_name,institution,timezone,addresses,paper,specialty\n")
	for _, r := range rows {
		c := r.Contact
		fmt.Fprintf(&csvFile, "%s,%s,%s,%s,%s,%s,%s,%s\n", c.Email, c.FirstName, c.LastName, c.Institution,
			c.Timezone, c.Addresses[1], c.Extra["paper"], c.Extra["specialty"])
	}
	b.Run("csv+import", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			st := storetest.New(b, nil)
			b.StartTimer()
			f, err := contactcsv.Parse(strings.NewReader(csvFile.String()))
			if err != nil || len(f.Errors) > 0 {
				b.Fatalf("%v %v", err, f.Errors)
			}
			rep, err := st.ImportContacts(context.Background(), store.ImportRequest{Columns: f.Columns, Rows: f.Rows})
			if err != nil || rep.Created != n {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("copy-floor", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			st := storetest.New(b, nil)
			b.StartTimer()
			if err := copyFloor(st, rows); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// copyFloor sends the rows with COPY into an unindexed table: the fastest
// PostgreSQL can take them, whatever the schema.
func copyFloor(st *store.Store, rows []outreach.ContactRow) error {
	tx, err := st.DB().Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TEMP TABLE floor (email text, first text, last text, inst text, tz text, addrs text[], extra jsonb)`); err != nil {
		return err
	}
	stmt, err := tx.Prepare(pq.CopyIn("floor", "email", "first", "last", "inst", "tz", "addrs", "extra"))
	if err != nil {
		return err
	}
	for _, r := range rows {
		c := r.Contact
		extra, _ := json.Marshal(c.Extra)
		if _, err := stmt.Exec(c.Email, c.FirstName, c.LastName, c.Institution, c.Timezone,
			pq.Array(c.Addresses), string(extra)); err != nil {
			return err
		}
	}
	if _, err := stmt.Exec(); err != nil {
		return err
	}
	if err := stmt.Close(); err != nil {
		return err
	}
	return tx.Commit()
}
