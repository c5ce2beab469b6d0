#!/usr/bin/env bash
# What Concord's Redmine tests need beyond ../shared/peers/start-redmine.sh's seed: issue
# custom fields, which Redmine's REST API cannot create (seed_custom_fields.rb, through
# `rails runner`; idempotent, ~15 s). Users and memberships are made by the tests
# themselves over the REST API. Run it after start-redmine.sh, as the same user.
#   env: PEERS_DIR (default /tmp/peers)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEERS_DIR="${PEERS_DIR:-/tmp/peers}"
RD="$PEERS_DIR/redmine-data"
[ -f "$RD/Gemfile" ] || { echo "no Redmine instance in $RD: run start-redmine.sh first" >&2; exit 1; }
BUNDLER_VERSION="$(ls /usr/share/rubygems-integration/all/specifications/ 2>/dev/null \
  | sed -n 's/^bundler-\([0-9.]*\)\.gemspec$/\1/p' | sort -V | tail -1)"
export BUNDLER_VERSION
export REDMINE_INSTANCE="../../../..$RD/instance" RAILS_ENV=production BUNDLE_GEMFILE="$RD/Gemfile"
# Rails would take Concord's DATABASE_URL (the tests' PostgreSQL) over the instance's own
# SQLite database.yml.
unset DATABASE_URL REDIS_URL
cd /usr/share/redmine
bundle exec rails runner "$HERE/seed_custom_fields.rb"
