package store

import (
	"context"
	"fmt"

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

// Schema reports the database's schema version next to the binary's.
func (s *Store) Schema(ctx context.Context) (SchemaVersion, error) {
	p, err := s.migrator()
	if err != nil {
		return SchemaVersion{}, mapError("schema version", err)
	}
	return s.versions(ctx, p)
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
