package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/migrations"
)

// SchemaVersion is where the database stands next to this binary's migrations.
type SchemaVersion struct {
	Current int64 `json:"current"` // the newest migration applied to the database
	Target  int64 `json:"target"`  // the newest migration this binary carries
}

func (s *Store) migrator() (*goose.Provider, error) {
	// A session-level advisory lock: two processes migrating at once take turns.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns the versions applied:
// none when the schema is already current.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	p, err := s.migrator()
	if err != nil {
		return nil, mapError("migrate", err)
	}
	if v, err := s.versions(ctx, p); err != nil {
		return nil, err
	} else if v.Current > v.Target {
		return nil, aheadError(v)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, mapError("migrate", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Schema reports the database's schema version next to the binary's. It
// reads what goose's GetVersions reads, the newest version in goose's
// table, with one query: every command checks the schema first, and
// goose's set-up (loading the migrations, asking pg_tables whether its
// table exists) cost more than the rest of a sync that finds nothing new.
func (s *Store) Schema(ctx context.Context) (SchemaVersion, error) {
	target, err := targetVersion()
	if err != nil {
		return SchemaVersion{}, mapError("schema version", err)
	}
	var current sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT max(version_id) FROM `+goose.DefaultTablename).Scan(&current)
	if err != nil && kindOf(err) != outreach.KindSchema { // no table yet: nothing applied
		return SchemaVersion{}, mapError("read schema version", err)
	}
	return SchemaVersion{Current: current.Int64, Target: target}, nil
}

// targetVersion is the newest migration this binary carries, numbered from
// the file names as goose numbers them.
func targetVersion() (int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return 0, err
	}
	var target int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return 0, err
		}
		target = max(target, v)
	}
	return target, nil
}

func (s *Store) versions(ctx context.Context, p *goose.Provider) (SchemaVersion, error) {
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return SchemaVersion{}, mapError("read schema version", err)
	}
	return SchemaVersion{Current: current, Target: target}, nil
}

// CheckSchema returns a KindSchema error, naming the command that fixes it,
// unless the database is exactly at this binary's schema version.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, err := s.Schema(ctx)
	if err != nil {
		return err
	}
	switch {
	case v.Current < v.Target:
		return outreach.Errorf(outreach.KindSchema,
			"the database schema is at version %d but this outreach needs %d: run `outreach migrate`",
			v.Current, v.Target)
	case v.Current > v.Target:
		return aheadError(v)
	}
	return nil
}

func aheadError(v SchemaVersion) error {
	return outreach.Errorf(outreach.KindSchema,
		"the database schema is at version %d, newer than this outreach knows (%d): "+
			"upgrade outreach to the version that migrated it", v.Current, v.Target)
}

// CreateDatabase creates database name on the server at adminURL unless it
// exists, and reports whether it created it.
func CreateDatabase(ctx context.Context, adminURL, name string) (bool, error) {
	st, err := Open(ctx, adminURL, Options{MaxOpenConns: 1})
	if err != nil {
		return false, err
	}
	defer st.Close()
	var exists bool
	if err := st.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return false, mapError("look up database "+name, err)
	}
	if exists {
		return false, nil
	}
	if _, err := st.db.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		if Constraint(err) != "" || kindOf(err) == outreach.KindConflict {
			return false, nil // created meanwhile by another outreach
		}
		return false, mapError("create database "+name, err)
	}
	return true, nil
}

// DropDatabase drops database name on the server at adminURL, closing any
// session still in it (PostgreSQL 13's WITH (FORCE)); gone already is fine.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	st, err := Open(ctx, adminURL, Options{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`)
	return mapError("drop database "+name, err)
}
