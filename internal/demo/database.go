package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/pglocal"
	"github.com/outreach/outreach/store"
)

// database is the demo's own database, never the applicant's: a fresh
// one created on the server at Options.ServerURL, or a private PostgreSQL
// in the demo's directory.
type database struct {
	url string
	pg  *pglocal.Server // the private server, when there is one
	// adminURL and name: the database created on someone else's server,
	// dropped on close.
	adminURL, name string
}

func openDatabase(ctx context.Context, serverURL, dir string) (*database, error) {
	if serverURL == "" {
		pg, err := pglocal.Start(ctx, filepath.Join(dir, "postgres"), pglocal.Options{Fast: true})
		if err != nil {
			return nil, outreach.Errorf(outreach.KindUnavailable, "start a private PostgreSQL for the demo: %w", err)
		}
		return &database{url: pg.URL("postgres"), pg: pg}, nil
	}
	name := "outreach_demo_" + randomHex(4)
	if _, err := store.CreateDatabase(ctx, serverURL, name); err != nil {
		return nil, fmt.Errorf("create the demo's database %s on the server of DATABASE_URL: %w", name, err)
	}
	return &database{url: withDatabase(serverURL, name), adminURL: serverURL, name: name}, nil
}

// close drops the database the demo created, or stops its server.
func (d *database) close() error {
	if d.pg != nil {
		return d.pg.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return dropDatabase(ctx, d.adminURL, d.name)
}

// dropDatabase drops a database the demo created, closing any session
// still in it.
func dropDatabase(ctx context.Context, adminURL, name string) error {
	if err := store.DropDatabase(ctx, adminURL, name); err != nil {
		return fmt.Errorf("drop the demo's database %s: %w", name, err)
	}
	return nil
}

// withDatabase names another database in a connection string, in either
// of lib/pq's forms (a URL, or key=value pairs where the last one wins).
func withDatabase(conn, name string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return strings.TrimSpace(conn) + " dbname=" + name
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b)
}
