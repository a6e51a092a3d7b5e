package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/contactcsv"
	"github.com/outreach/outreach/store"
)

// contactsView is the contact list, and the result of an upload.
type contactsView struct {
	Query    string
	Contacts []outreach.Contact
	Import   *importResult
}

// importResult is what a CSV upload did, as `contacts import` reports it.
type importResult struct {
	File             string
	Rows             int
	Created, Updated int
	Refused          []outreach.RowError
	Imported         bool
	Problem          string // the file as a whole could not be read
}

func (s *Server) contacts(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.renderContacts(w, r, sess, http.StatusOK, nil)
}

func (s *Server) renderContacts(w http.ResponseWriter, r *http.Request, sess *session, status int, imp *importResult) error {
	v := contactsView{Query: strings.TrimSpace(r.URL.Query().Get("q")), Import: imp}
	var err error
	if v.Contacts, err = s.cfg.Store.Contacts(r.Context(), store.ContactFilter{Search: v.Query}); err != nil {
		return err
	}
	s.render(w, r, sess, status, "contacts", "Contacts", v)
	return nil
}

// importContacts checks every row first: with a bad row and no "skip",
// nothing is imported and every bad row is listed with its line.
func (s *Server) importContacts(w http.ResponseWriter, r *http.Request, sess *session) error {
	file, header, err := r.FormFile("file")
	if err != nil {
		return s.renderContacts(w, r, sess, http.StatusBadRequest, &importResult{Problem: "Choose a CSV file to upload."})
	}
	defer file.Close()
	res := &importResult{File: header.Filename}
	f, err := contactcsv.Parse(file)
	if err != nil {
		res.Problem = err.Error()
		return s.renderContacts(w, r, sess, http.StatusBadRequest, res)
	}
	skip := r.PostFormValue("skip_invalid") != ""
	// Rows that parse may still meet the database's checks (an address of
	// another contact); a dry run finds those too, so every bad line shows.
	rep, err := s.cfg.Store.ImportContacts(r.Context(), store.ImportRequest{Columns: f.Columns, Rows: f.Rows,
		SkipInvalid: skip, DryRun: len(f.Errors) > 0 && !skip})
	if err != nil && !errors.Is(err, store.ErrRowsRefused) {
		return err
	}
	res.Refused = append(slices.Clone(f.Errors), rep.Refused...)
	sort.SliceStable(res.Refused, func(i, j int) bool { return res.Refused[i].Line < res.Refused[j].Line })
	res.Rows = len(f.Rows) + len(f.Errors)
	res.Imported = len(res.Refused) == 0 || skip
	status := http.StatusOK
	if res.Imported {
		res.Created, res.Updated = rep.Created, rep.Updated
	} else {
		status = http.StatusBadRequest
	}
	return s.renderContacts(w, r, sess, status, res)
}

// contactView is one contact's card and the form to edit it.
type contactView struct {
	Contact   outreach.Contact
	Addresses string // the form's text: one address a line, the primary first
	Timezone  string
	Threads   []store.ThreadListing
	Problem   string
}

func (s *Server) contact(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.ContactByID(r.Context(), id)
	if err != nil {
		return err
	}
	return s.renderContact(w, r, sess, http.StatusOK, contactView{Contact: c,
		Addresses: strings.Join(c.Addresses, "\n"), Timezone: c.Timezone})
}

func (s *Server) renderContact(w http.ResponseWriter, r *http.Request, sess *session, status int, v contactView) error {
	var err error
	if v.Threads, err = s.cfg.Store.Threads(r.Context(), store.ThreadFilter{ContactID: v.Contact.ID}); err != nil {
		return err
	}
	s.render(w, r, sess, status, "contact", v.Contact.Name(), v)
	return nil
}

func (s *Server) editContact(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.ContactByID(r.Context(), id)
	if err != nil {
		return err
	}
	v := contactView{Contact: c, Addresses: r.PostFormValue("addresses"), Timezone: strings.TrimSpace(r.PostFormValue("timezone"))}
	edit, problem := parseContactEdit(v.Addresses, v.Timezone)
	if problem != "" {
		v.Problem = "Not saved: " + problem
		return s.renderContact(w, r, sess, http.StatusBadRequest, v)
	}
	_, err = s.cfg.Store.EditContact(r.Context(), id, edit)
	if kind := outreach.KindOf(err); kind == outreach.KindConflict || kind == outreach.KindInvalid {
		v.Problem = "Not saved: " + err.Error()
		return s.renderContact(w, r, sess, httpStatus(err), v)
	}
	if err != nil {
		return err
	}
	return redirect(w, r, contactLink(id), "ok", "Saved.")
}

// parseContactEdit reads the form: one address a line (the first is the
// primary), and an IANA time zone or nothing.
func parseContactEdit(addresses, tz string) (store.ContactEdit, string) {
	var e store.ContactEdit
	for line := range strings.Lines(addresses) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, err := contactcsv.ParseAddress(line)
		if err != nil {
			return e, err.Error()
		}
		if !slices.Contains(e.Addresses, a) {
			e.Addresses = append(e.Addresses, a)
		}
	}
	if len(e.Addresses) == 0 {
		return e, "a contact needs at least one address"
	}
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			return e, fmt.Sprintf("%q is not a time zone name such as America/Chicago", tz)
		}
	}
	e.Timezone = tz
	return e, ""
}

func (s *Server) blockContact(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.ContactByID(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.BlockContact(r.Context(), c.Email, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		return err
	}
	return redirect(w, r, contactLink(id), "ok", fmt.Sprintf(
		"%s is on your do-not-contact list: nothing will be proposed or sent to them again.", c.Name()))
}
