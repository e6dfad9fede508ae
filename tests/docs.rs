//! The README's settings table is the schema's own output (`arq info --schema-md`), so the docs
//! cannot drift from the URL keys, ranges and defaults.

#[test]
fn readme_settings_table_matches_the_schema() {
    let readme = include_str!("../README.md");
    let table = arq::config::schema_markdown();
    assert!(
        readme.contains(table.trim()),
        "README.md's settings table is stale: replace it with the output of `arq info --schema-md`"
    );
}
