package store_test

import (
	"context"
	"sort"
	"testing"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

func TestMigrateTwiceIsNoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.URL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	if err := st.CheckSchema(ctx); !outreach.IsKind(err, outreach.KindSchema) {
		t.Fatalf("CheckSchema on an empty database: got %v, want a schema error", err)
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("first migrate applied nothing")
	}
	before := schemaDump(t, st)
	again, err := st.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	if after := schemaDump(t, st); after != before {
		t.Fatalf("second migrate changed the schema:\nbefore %s\nafter  %s", before, after)
	}
	if err := st.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after migrate: %v", err)
	}
}

func TestCheckSchemaRefusesANewerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t, nil)
	v, err := st.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A newer binary migrated this database: pretend with a row in goose's table.
	if _, err := st.DB().ExecContext(ctx,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, v.Target+1); err != nil {
		t.Fatal(err)
	}
	err = st.CheckSchema(ctx)
	if !outreach.IsKind(err, outreach.KindSchema) {
		t.Fatalf("CheckSchema on a newer database: got %v, want a schema error", err)
	}
	if _, err := st.Migrate(ctx); !outreach.IsKind(err, outreach.KindSchema) {
		t.Fatalf("Migrate on a newer database: got %v, want a schema error", err)
	}
}

// The transition tables in Go and in the database must be the same table.
func TestTransitionTablesMatchGo(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	check := func(table string, goPairs []string) {
		var dbPairs []string
		if err := st.DB().Select(&dbPairs,
			`SELECT from_state || '->' || to_state FROM `+table+` ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		sort.Strings(goPairs)
		if got, want := join(dbPairs), join(goPairs); got != want {
			t.Errorf("%s differs from Go:\ndb %s\ngo %s", table, got, want)
		}
	}
	var threads, drafts []string
	for from, tos := range outreach.ThreadTransitions {
		for _, to := range tos {
			threads = append(threads, string(from)+"->"+string(to))
		}
	}
	for from, tos := range outreach.DraftTransitions {
		for _, to := range tos {
			drafts = append(drafts, string(from)+"->"+string(to))
		}
	}
	check("thread_transitions", threads)
	check("draft_transitions", drafts)
}

func schemaDump(t *testing.T, st *store.Store) string {
	t.Helper()
	var cols []string
	err := st.DB().Select(&cols, `
		SELECT table_name || '.' || column_name || ':' || data_type
		FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL SELECT 'rows goose ' || count(*) FROM goose_db_version
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	return join(cols)
}

func join(s []string) string {
	out := ""
	for _, x := range s {
		out += x + "\n"
	}
	return out
}

// Message skeletons are compressed with lz4 where the server has it (a
// probe: setting default_toast_compression to lz4 fails without it).
func TestSkeletonsCompressWithLZ4(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t, nil)
	if _, err := st.DB().ExecContext(ctx, `SET default_toast_compression = lz4`); err != nil {
		t.Skipf("this PostgreSQL has no lz4: %v", err)
	}
	var method string
	if err := st.DB().GetContext(ctx, &method, `SELECT attcompression FROM pg_attribute
		WHERE attrelid = 'messages'::regclass AND attname = 'raw'`); err != nil {
		t.Fatal(err)
	}
	if method != "l" {
		t.Fatalf("messages.raw compression %q, want l (lz4)", method)
	}
}
