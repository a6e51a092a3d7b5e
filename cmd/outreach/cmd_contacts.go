package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/contactcsv"
	"github.com/outreach/outreach/store"
)

func (a *app) contactsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "Import, list, add and block the faculty you write to",
	}
	cmd.AddCommand(a.contactsImportCommand(), a.contactsListCommand(), a.contactsAddCommand(),
		a.contactsBlockCommand())
	return cmd
}

func (a *app) contactsImportCommand() *cobra.Command {
	var skipInvalid bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Create or update contacts from a CSV file (- reads standard input)",
		Long: `Create or update contacts from a CSV file with a header row.

Columns: email (required), first_name, last_name, title, institution,
timezone (IANA, such as America/Chicago), notes, addresses (more addresses
of the same person, separated by ";"). Any other column is kept and becomes a
template variable; headers are normalised ("Research Topic" -> research_topic).

Every row is checked first. If any row is bad, nothing is imported and every
bad row is listed with its line number and the reason; --skip-invalid imports
the good rows and lists the others. A contact is matched by any of its
addresses, so importing the file again updates and never duplicates.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.contactsImport(cmd, args[0], skipInvalid)
		},
	}
	cmd.Flags().BoolVar(&skipInvalid, "skip-invalid", false, "import the valid rows and report the others")
	a.addJSONFlag(cmd)
	return cmd
}

// importSummary is what `contacts import` reports.
type importSummary struct {
	File     string              `json:"file"`
	Rows     int                 `json:"rows"`
	Created  int                 `json:"created"`
	Updated  int                 `json:"updated"`
	Refused  []outreach.RowError `json:"refused"`
	Imported bool                `json:"imported"`
}

func (a *app) contactsImport(cmd *cobra.Command, path string, skipInvalid bool) error {
	f, err := a.readContactsFile(path)
	if err != nil {
		return err
	}
	st, err := a.openStore(cmd.Context(), false)
	if err != nil {
		return err
	}
	// Rows that parse still meet the database's checks (an address already
	// belonging to another contact); a dry run finds those when the file has
	// errors, so the user sees every bad line at once.
	req := store.ImportRequest{Columns: f.Columns, Rows: f.Rows, SkipInvalid: skipInvalid,
		DryRun: len(f.Errors) > 0 && !skipInvalid}
	rep, err := st.ImportContacts(cmd.Context(), req)
	if err != nil && !errors.Is(err, store.ErrRowsRefused) {
		return err
	}
	refused := append(slices.Clone(f.Errors), rep.Refused...)
	sort.SliceStable(refused, func(i, j int) bool { return refused[i].Line < refused[j].Line })
	sum := importSummary{File: path, Rows: len(f.Rows) + len(f.Errors), Created: rep.Created,
		Updated: rep.Updated, Refused: refused, Imported: len(refused) == 0 || skipInvalid}
	if !sum.Imported {
		sum.Created, sum.Updated = 0, 0
	}
	if err := a.reportImport(sum); err != nil {
		return err
	}
	if !sum.Imported {
		return outreach.Errorf(outreach.KindInvalid, "%s: %s invalid; nothing was imported (fix them, or use --skip-invalid)",
			path, plural(len(refused), "row"))
	}
	return nil
}

func (a *app) readContactsFile(path string) (*contactcsv.File, error) {
	var r io.Reader = a.stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, outreach.Errorf(outreach.KindInvalid, "open contacts file: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	f, err := contactcsv.Parse(r)
	if err != nil {
		return nil, outreach.Errorf(outreach.KindInvalid, "%s: %w", path, err)
	}
	return f, nil
}

func (a *app) reportImport(s importSummary) error {
	if a.jsonOut {
		if s.Refused == nil {
			s.Refused = []outreach.RowError{}
		}
		return a.printJSON(s)
	}
	for _, e := range s.Refused {
		fmt.Fprintf(a.stderr, "%s:%d: %s\n", s.File, e.Line, e.Reason)
	}
	if s.Imported {
		fmt.Fprintf(a.stdout, "%s: %s created, %s updated, %s skipped\n", s.File,
			plural(s.Created, "contact"), plural(s.Updated, "contact"), plural(len(s.Refused), "row"))
	}
	return nil
}

func (a *app) contactsListCommand() *cobra.Command {
	var blocked, unblocked bool
	var search string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List contacts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.ContactFilter{Search: search}
			switch {
			case blocked && unblocked:
				return usageError{fmt.Errorf("--blocked and --unblocked exclude each other")}
			case blocked, unblocked:
				f.Blocked = &blocked
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			contacts, err := st.Contacts(cmd.Context(), f)
			if err != nil {
				return err
			}
			return a.printContacts(contacts)
		},
	}
	cmd.Flags().BoolVar(&blocked, "blocked", false, "only contacts on the do-not-contact list")
	cmd.Flags().BoolVar(&unblocked, "unblocked", false, "only contacts not on the do-not-contact list")
	cmd.Flags().StringVar(&search, "search", "", "only contacts whose name, institution or address contains this")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printContacts(contacts []outreach.Contact) error {
	if a.jsonOut {
		for _, c := range contacts {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			if err := a.printJSON(c); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tINSTITUTION\tTIMEZONE\tSTATUS")
	for _, c := range contacts {
		status := "ok"
		if c.Blocked() {
			status = "blocked"
		}
		email := c.Email
		if n := len(c.Addresses) - 1; n > 0 {
			email += fmt.Sprintf(" (+%d)", n)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, email, c.Name(), c.Institution, c.Timezone, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "%s\n", plural(len(contacts), "contact"))
	return nil
}

func (a *app) contactsAddCommand() *cobra.Command {
	fields := map[string]*string{}
	var addresses, extra []string
	cmd := &cobra.Command{
		Use:   "add --email ADDRESS [flags]",
		Short: "Add one contact",
		Example: `  outreach contacts add --email ana.souza@example.edu --first-name Ana --last-name Souza \
    --title "Professor of Urology" --institution "Example University" \
    --timezone America/Chicago --address asouza@hospital.example.org --set paper="PCNL outcomes"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cols, vals := []string{}, []string{}
			for _, col := range outreach.ContactColumns {
				if p := fields[col]; p != nil && cmd.Flags().Changed(flagName(col)) {
					cols, vals = append(cols, col), append(vals, *p)
				}
			}
			if len(addresses) > 0 {
				cols, vals = append(cols, "addresses"), append(vals, strings.Join(addresses, ";"))
			}
			for _, kv := range extra {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" || slices.Contains(outreach.ContactColumns, k) {
					return usageError{fmt.Errorf("--set %q: want NAME=VALUE with a name that is not a known column", kv)}
				}
				cols, vals = append(cols, k), append(vals, v)
			}
			return a.contactsAdd(cmd, cols, vals)
		},
	}
	for _, col := range outreach.ContactColumns {
		if col == "addresses" {
			continue
		}
		fields[col] = cmd.Flags().String(flagName(col), "", strings.ReplaceAll(col, "_", " "))
	}
	_ = cmd.MarkFlagRequired("email")
	cmd.Flags().StringArrayVar(&addresses, "address", nil, "another address of the same person (repeatable)")
	cmd.Flags().StringArrayVar(&extra, "set", nil, "an extra field NAME=VALUE, a template variable (repeatable)")
	a.addJSONFlag(cmd)
	return cmd
}

func flagName(col string) string { return strings.ReplaceAll(col, "_", "-") }

func (a *app) contactsAdd(cmd *cobra.Command, cols, vals []string) error {
	row, err := contactcsv.ParseFields(cols, vals)
	if err != nil {
		return err
	}
	st, err := a.openStore(cmd.Context(), false)
	if err != nil {
		return err
	}
	rep, err := st.ImportContacts(cmd.Context(), store.ImportRequest{Columns: cols,
		Rows: []outreach.ContactRow{row}, CreateOnly: true})
	if len(rep.Refused) > 0 {
		return outreach.Errorf(outreach.KindConflict, "%s (use `contacts import` to update it)", rep.Refused[0].Reason)
	}
	if err != nil {
		return err
	}
	c, err := st.ContactByAddress(cmd.Context(), row.Contact.Email)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.printJSON(c)
	}
	fmt.Fprintf(a.stdout, "added contact %d: %s <%s>\n", c.ID, c.Name(), c.Email)
	return nil
}

func (a *app) contactsBlockCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "block EMAIL",
		Short: "Put a person on the do-not-contact list",
		Long: `Put the person with this address on the do-not-contact list. Every address
of theirs is blocked: nothing is ever proposed or sent to them again, their
open threads move to blocked and their unsent drafts are withdrawn.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			c, err := st.BlockContact(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(c)
			}
			fmt.Fprintf(a.stdout, "blocked %s <%s>: nothing will be proposed or sent to %s\n",
				c.Name(), c.Email, strings.Join(c.Addresses, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	a.addJSONFlag(cmd)
	return cmd
}
