package main

import (
	"path/filepath"
	"strings"

	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/templates"
)

// templateSet loads the built-in templates and the applicant's overrides.
func (a *app) templateSet() (*templates.Set, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	return templates.New(a.templatesDir(cfg))
}

// templatesDir resolves [templates] dir: "~/" is the home directory, and a
// relative path is relative to the configuration file.
func (a *app) templatesDir(cfg *Config) string {
	dir := cfg.Templates.Dir
	switch {
	case dir == "":
		return ""
	case strings.HasPrefix(dir, "~/"):
		return filepath.Join(a.getenv("HOME"), dir[2:])
	case !filepath.IsAbs(dir) && cfg.path != "":
		return filepath.Join(filepath.Dir(cfg.path), dir)
	}
	return dir
}

// composer writes follow-up drafts from the templates and the [profile].
func (a *app) composer() (daemon.Composer, error) {
	set, err := a.templateSet()
	if err != nil {
		return nil, err
	}
	return daemon.TemplateComposer(set, templates.Profile(a.cfg.Profile), a.cfg.Templates.FollowUp), nil
}
