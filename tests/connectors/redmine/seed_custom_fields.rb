# Custom fields for Concord's Redmine tests (idempotent). Redmine's REST API cannot create
# custom fields (only the admin UI or Rails can), so tests/connectors/redmine/
# setup-redmine.sh runs this with `rails runner` against the instance that
# ../shared/peers/start-redmine.sh made.
def field(name, format, extra = {})
  cf = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
  cf.field_format = format
  cf.is_for_all = true
  cf.is_filter = true
  cf.visible = true
  cf.trackers = Tracker.all.to_a
  extra.each { |key, value| cf.send("#{key}=", value) }
  cf.save!
  cf
end
fields = [
  field('Concord customer', 'string'),
  field('Concord severity', 'list', possible_values: %w[Minor Major Critical]),
  field('Concord points', 'int'),
]
fields.each { |cf| puts "REDMINE_CF_#{cf.field_format.upcase}=#{cf.id}" }
