//! Tests of the Hermitfile parser: every directive, its errors with line and column, and
//! the forms the launch options share with it.

use super::directives::KNOWN_DIRECTIVES;
use super::*;

const PATH: &str = "/proj/Hermitfile";

fn parse(text: &str) -> Hermitfile {
    Hermitfile::parse(Path::new(PATH), text).unwrap_or_else(|err| panic!("{err:#}"))
}

fn parse_err(text: &str) -> ParseError {
    let err = Hermitfile::parse(Path::new(PATH), text).expect_err("should not parse");
    err.downcast::<ParseError>().expect("a ParseError")
}

/// `(line, column)` of the error and whether its message holds `needle`.
fn assert_err(text: &str, line: usize, column: usize, needle: &str) -> ParseError {
    let err = parse_err(text);
    assert_eq!((err.line, err.column), (line, column), "{err}");
    assert!(
        err.message.contains(needle),
        "{:?} lacks {needle:?}",
        err.message
    );
    err
}

fn map(host: &str, guest: &str, read_only: bool) -> Map {
    Map {
        host: PathBuf::from(host),
        guest: guest.to_string(),
        read_only,
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn minimal() {
    let file = parse("FROM hello.wasm\n");
    let expected = Hermitfile {
        path: PathBuf::from(PATH),
        from: PathBuf::from("/proj/hello.wasm"),
        maps: vec![],
        env: vec![],
        env_pwd_is_host_cwd: false,
        env_exe_name_is_host_exe_name: false,
        args: vec![],
        entrypoint: None,
        limits: Limits::default(),
        links: vec![],
    };
    assert_eq!(file, expected);
}

#[test]
fn every_directive() {
    let file = parse(
        r#"
# The example from the docs.
FROM ../build/hello.wasm
MAP ["data", "in:/in:ro", "out:/out:rw"]
ENV GREETING="hello world" X=1
ENV_PWD_IS_HOST_CWD
ENV_EXE_NAME_IS_HOST_EXE_NAME
ARGS ["--verbose"]
ENTRYPOINT main
LIMIT memory=256M cpu=10s
LIMIT wall=2m output=10M files=64
"#,
    );
    assert_eq!(file.from, Path::new("/proj/../build/hello.wasm"));
    let maps = vec![
        map("/proj/data", "/proj/data", false),
        map("/proj/in", "/in", true),
        map("/proj/out", "/out", false),
    ];
    assert_eq!(file.maps, maps);
    assert_eq!(file.env, env(&[("GREETING", "hello world"), ("X", "1")]));
    assert!(file.env_pwd_is_host_cwd);
    assert!(file.env_exe_name_is_host_exe_name);
    assert_eq!(file.args, ["--verbose"]);
    assert_eq!(file.entrypoint.as_deref(), Some("main"));
    let limits = Limits {
        memory: Some(256 << 20),
        cpu: Some(10),
        wall: Some(120),
        output: Some(10 << 20),
        files: Some(64),
        threads: None,
    };
    assert_eq!(file.limits, limits);
}

#[test]
fn limit_errors_have_their_position() {
    assert_err(
        "FROM a.wasm
LIMIT
",
        2,
        1,
        "LIMIT needs NAME=VALUE",
    );
    assert_err(
        "FROM a.wasm
LIMIT memory=1M  fuel=9
",
        2,
        18,
        "unknown limit \"fuel\"",
    );
    let err = assert_err(
        "FROM a.wasm
LIMIT memory=12X
",
        2,
        16,
        "unknown unit \"X\"",
    );
    assert!(err.hint.unwrap().contains("memory=SIZE"));
    assert_err(
        "FROM a.wasm
LIMIT cpu=
",
        2,
        11,
        "does not start with a number",
    );
    assert_err(
        "FROM a.wasm
LIMIT files=3
limit cpu=1 files=4
",
        3,
        13,
        "files is limited twice (first at line 2:7)",
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let file = parse(
        "from a.wasm\nMap [\"/d\"]\neNv A=1\nenv_pwd_is_host_cwd\nEnv_Exe_Name_Is_Host_Exe_Name\n\
             args [\"x\"]\nEntryPoint run\n",
    );
    assert_eq!(file.from, Path::new("/proj/a.wasm"));
    assert_eq!(file.maps, [map("/d", "/d", false)]);
    assert_eq!(file.env, env(&[("A", "1")]));
    assert!(file.env_pwd_is_host_cwd && file.env_exe_name_is_host_exe_name);
    assert_eq!(file.args, ["x"]);
    assert_eq!(file.entrypoint.as_deref(), Some("run"));
}

#[test]
fn comments_blank_lines_and_indentation() {
    let text = "\n# comment\n   # indented comment\n\n\t FROM a.wasm   \n  \n  ENV A=#not-a-comment\n#ENV B=2\n";
    let file = parse(text);
    assert_eq!(file.from, Path::new("/proj/a.wasm"));
    assert_eq!(file.env, env(&[("A", "#not-a-comment")]));
}

#[test]
fn crlf_and_byte_order_mark() {
    let file = parse("\u{feff}FROM a.wasm\r\nENV A=1\r\n");
    assert_eq!(file.env, env(&[("A", "1")]));
    assert_err(
        "\u{feff}FROM a.wasm\r\nBOGUS\r\n",
        2,
        1,
        "unknown directive",
    );
}

#[test]
fn continuation_lines() {
    let text = "FROM a.wasm\nENV A=1 \\\n    B=2 \\\n# a comment in between\n    C=3\nMAP [ \\\n  \"/x\", \\\n  \"/y:ro\" ]\n";
    let file = parse(text);
    assert_eq!(file.env, env(&[("A", "1"), ("B", "2"), ("C", "3")]));
    assert_eq!(file.maps, [map("/x", "/x", false), map("/y", "/y", true)]);
}

#[test]
fn continuation_ended_by_a_blank_line_or_the_end() {
    let file = parse("FROM a.wasm\nENV A=1 \\\n\nENV B=2 \\");
    assert_eq!(file.env, env(&[("A", "1"), ("B", "2")]));
}

#[test]
fn errors_in_continued_lines_have_their_own_position() {
    assert_err(
        "FROM a.wasm\nENV A=1 \\\n    1B=2\n",
        3,
        5,
        "\"1B\" is not a valid",
    );
    assert_err(
        "FROM a.wasm\nMAP [\"/a\", \\\n  \"rel:da:ta\"]\n",
        3,
        3,
        "too many ':'",
    );
    assert_err(
        "FROM a.wasm\nENV A=1 \\\n# comment\n  \\\n   B\n",
        5,
        4,
        "expected KEY=VALUE",
    );
}

#[test]
fn env_order_is_kept() {
    let file = parse("FROM a.wasm\nENV Z=1 A=2\nENV M=3\nENV B=4 _y=5\n");
    let expected = env(&[("Z", "1"), ("A", "2"), ("M", "3"), ("B", "4"), ("_y", "5")]);
    assert_eq!(file.env, expected);
}

#[test]
fn env_values() {
    let file = parse(
        r#"FROM a.wasm
ENV EMPTY= EQ=a=b QUOTED="tab\tand \"quotes\"" UNICODE="\u00e9" SPACED="  two  words  "
"#,
    );
    let expected = env(&[
        ("EMPTY", ""),
        ("EQ", "a=b"),
        ("QUOTED", "tab\tand \"quotes\""),
        ("UNICODE", "é"),
        ("SPACED", "  two  words  "),
    ]);
    assert_eq!(file.env, expected);
}

#[test]
fn env_errors() {
    assert_err("FROM a.wasm\nENV\n", 2, 1, "ENV needs KEY=VALUE");
    let err = assert_err("FROM a.wasm\nENV KEY value\n", 2, 5, "expected KEY=VALUE");
    assert!(err.hint.unwrap().contains("Dockerfile form"));
    assert_err("FROM a.wasm\nENV A=1 =2\n", 2, 9, "\"\" is not a valid");
    assert_err("FROM a.wasm\nENV A-B=1\n", 2, 5, "\"A-B\" is not a valid");
    assert_err("FROM a.wasm\nENV É=1\n", 2, 5, "is not a valid");
    assert_err("FROM a.wasm\nENV A=\"open\n", 2, 7, "unterminated string");
    assert_err("FROM a.wasm\nENV A=x\"y\"\n", 2, 8, "quote in the middle");
    assert_err("FROM a.wasm\nENV A=\"x\"y\n", 2, 10, "malformed string");
    assert_err("FROM a.wasm\nENV A=\"\\q\"\n", 2, 9, "malformed string");
    assert_err("FROM a.wasm\nENV A=\"\\u0000\"\n", 2, 7, "NUL");
    assert_err(
        "FROM a.wasm\nENV A=1\nENV B=2 A=3\n",
        3,
        9,
        "A is set twice (first at line 2:5)",
    );
}

#[test]
fn env_and_flags_conflict() {
    assert_err(
        "FROM a.wasm\nENV PWD=/\nENV_PWD_IS_HOST_CWD\n",
        3,
        1,
        "ENV already sets (at line 2:5)",
    );
    assert_err(
        "FROM a.wasm\nENV_EXE_NAME_IS_HOST_EXE_NAME\nENV X=1 EXE_NAME=x\n",
        3,
        9,
        "also set by",
    );
}

#[test]
fn flag_errors() {
    assert_err(
        "FROM a.wasm\nENV_PWD_IS_HOST_CWD yes\n",
        2,
        21,
        "takes no arguments",
    );
    assert_err(
        "FROM a.wasm\nENV_PWD_IS_HOST_CWD\nenv_pwd_is_host_cwd\n",
        3,
        1,
        "a second ENV_PWD_IS_HOST_CWD",
    );
    assert_err(
        "FROM a.wasm\nENV_EXE_NAME_IS_HOST_EXE_NAME\nENV_EXE_NAME_IS_HOST_EXE_NAME\n",
        3,
        1,
        "a second",
    );
}

#[test]
fn map_forms() {
    let text = r#"FROM a.wasm
MAP ["data", "/abs", "./here/../there:/t", "sub/dir:/guest/dir:ro", "w:/w:rw", "/r:ro", "x:/x:RO"]
"#;
    let file = parse(text);
    let expected = vec![
        map("/proj/data", "/proj/data", false),
        map("/abs", "/abs", false),
        map("/proj/./here/../there", "/t", false),
        map("/proj/sub/dir", "/guest/dir", true),
        map("/proj/w", "/w", false),
        map("/r", "/r", true),
        map("/proj/x", "/x", true),
    ];
    assert_eq!(file.maps, expected);
}

#[test]
fn map_host_alone_maps_to_its_normalised_absolute_path() {
    let file = parse("FROM a.wasm\nMAP [\"../shared/./x\", \".\"]\n");
    assert_eq!(file.maps[0].guest, "/shared/x");
    assert_eq!(file.maps[1].guest, "/proj");
}

#[test]
fn map_guest_names_are_verbatim() {
    // As `wasmtime run --dir HOST::GUEST`: the module compares these names.
    let file = parse("FROM a.wasm\nMAP [\"a://data//x/./\", \"b:/\", \"c:.\", \"d:data\"]\n");
    let guests: Vec<&str> = file.maps.iter().map(|m| m.guest.as_str()).collect();
    assert_eq!(guests, ["//data//x/./", "/", ".", "data"]);
}

#[test]
fn map_lines_add_up() {
    let file = parse("FROM a.wasm\nMAP [\"a:/a\"]\nMAP []\nMAP [\"b:/b:ro\", \"c:/c\"]\n");
    let expected = vec![
        map("/proj/a", "/a", false),
        map("/proj/b", "/b", true),
        map("/proj/c", "/c", false),
    ];
    assert_eq!(file.maps, expected);
}

#[test]
fn map_duplicate_guest_path() {
    let text = "FROM a.wasm\nMAP [\"a:/data\"]\nMAP [\"b:/c\",  \"b:/data\"]\n";
    assert_err(text, 3, 15, "/data is mapped twice (first at line 2:6)");
    assert_err(
        "FROM a.wasm\nMAP [\"/x\", \"y:/x\"]\n",
        2,
        12,
        "mapped twice",
    );
}

#[test]
fn map_errors() {
    assert_err(
        "FROM a.wasm\nMAP\n",
        2,
        1,
        "MAP needs a JSON array of strings",
    );
    assert_err(
        "FROM a.wasm\nMAP data\n",
        2,
        5,
        "expected a JSON array of strings",
    );
    assert_err("FROM a.wasm\nMAP [\"a:/a:rx\"]\n", 2, 6, "too many ':'");
    assert_err("FROM a.wasm\nMAP [\"a:/a:ro:x\"]\n", 2, 6, "too many ':'");
    assert_err("FROM a.wasm\nMAP [\":/a\"]\n", 2, 6, "no host directory");
    assert_err("FROM a.wasm\nMAP [\"a:\"]\n", 2, 6, "empty guest name");
    assert_err(
        "FROM a.wasm\nMAP [\"a\"] [\"b\"]\n",
        2,
        11,
        "trailing characters",
    );
}

#[test]
fn malformed_json_has_its_position() {
    // Columns point at the offending character.
    assert_err(
        "FROM a.wasm\nMAP [\"a\", ]\n",
        2,
        11,
        "malformed JSON array: trailing comma",
    );
    assert_err(
        "FROM a.wasm\nARGS [\"a\" \"b\"]\n",
        2,
        11,
        "malformed JSON array",
    );
    assert_err(
        "FROM a.wasm\nARGS [\"a\", 1]\n",
        2,
        12,
        "invalid type: integer `1`, expected a string",
    );
    assert_err(
        "FROM a.wasm\nARGS [\"a\"\n",
        2,
        10,
        "EOF while parsing a list",
    );
    assert_err("FROM a.wasm\nARGS ['a']\n", 2, 7, "malformed JSON array");
    let err = parse_err("FROM a.wasm\nARGS [\"a\",]\n");
    assert!(err.hint.unwrap().contains("ARGS ["));
}

#[test]
fn args() {
    let file = parse(
        "FROM a.wasm\nARGS [\"hermitfile\", \"two words\", \"\"]\nARGS []\nargs [\"last\\n\"]\n",
    );
    assert_eq!(file.args, ["hermitfile", "two words", "", "last\n"]);
    assert_err("FROM a.wasm\nARGS\n", 2, 1, "ARGS needs a JSON array");
    assert_err("FROM a.wasm\nARGS a b\n", 2, 6, "expected a JSON array");
    assert_err("FROM a.wasm\nARGS [\"ok\", \"a\\u0000\"]\n", 2, 13, "NUL");
}

#[test]
fn from() {
    assert_eq!(parse("FROM /abs/m.wasm").from, Path::new("/abs/m.wasm"));
    assert_eq!(
        parse("FROM \"my module.wasm\"").from,
        Path::new("/proj/my module.wasm")
    );
    let file = Hermitfile::parse(Path::new("Hermitfile"), "FROM m.wasm").unwrap();
    assert_eq!(file.from, Path::new("m.wasm"));
    let file = Hermitfile::parse(Path::new("rel/dir/Hermitfile"), "FROM ../m.wasm").unwrap();
    assert_eq!(file.from, Path::new("rel/dir/../m.wasm"));
}

#[test]
fn from_errors() {
    let err = assert_err("# nothing\nENV A=1\n", 1, 1, "no FROM");
    assert!(err.hint.unwrap().contains("FROM module.wasm"));
    assert_err("", 1, 1, "no FROM");
    assert_err(
        "FROM a.wasm\n\nfrom b.wasm\n",
        3,
        1,
        "a second FROM (the first is at line 1:1)",
    );
    assert_err("FROM\n", 1, 1, "FROM needs a module path");
    assert_err(
        "FROM a.wasm b.wasm\n",
        1,
        13,
        "FROM takes one word: unexpected \"b.wasm\"",
    );
    assert_err("FROM \"\"\n", 1, 6, "not an empty one");
}

#[test]
fn entrypoint() {
    assert_eq!(
        parse("FROM a.wasm\nENTRYPOINT _initialize")
            .entrypoint
            .as_deref(),
        Some("_initialize")
    );
    assert_eq!(
        parse("FROM a.wasm\nENTRYPOINT \"odd name\"")
            .entrypoint
            .as_deref(),
        Some("odd name")
    );
    assert_err(
        "FROM a.wasm\nENTRYPOINT\n",
        2,
        1,
        "ENTRYPOINT needs the name of an export",
    );
    assert_err("FROM a.wasm\nENTRYPOINT a b\n", 2, 14, "takes one word");
    assert_err(
        "FROM a.wasm\nENTRYPOINT [\"main\"]\n",
        2,
        12,
        "not a JSON array",
    );
    assert_err(
        "FROM a.wasm\nENTRYPOINT a\nENTRYPOINT b\n",
        3,
        1,
        "a second ENTRYPOINT (the first is at line 2:1)",
    );
}

#[test]
fn links_are_read_in_order_and_checked() {
    let file = parse("FROM a.wasm\nLINK calc=lib/calc.wasm\nlink \"two words=/abs/b.wasm\"\n");
    let links: Vec<(&str, &Path)> = file
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.path.as_path()))
        .collect();
    assert_eq!(
        links,
        vec![
            ("calc", Path::new("/proj/lib/calc.wasm")),
            ("two words", Path::new("/abs/b.wasm")),
        ]
    );
    assert_err(
        "FROM a.wasm\nLINK calc.wasm\n",
        2,
        6,
        "expected NAME=PATH, found \"calc.wasm\"",
    );
    assert_err(
        "FROM a.wasm\nLINK =c.wasm\n",
        2,
        6,
        "LINK needs a name before the =",
    );
    assert_err(
        "FROM a.wasm\nLINK c=\n",
        2,
        8,
        "LINK needs a module path after the =",
    );
    assert_err(
        "FROM a.wasm\nLINK wasi_snapshot_preview1=w.wasm\n",
        2,
        6,
        "wasi_snapshot_preview1 is the guest's own WASI and can't be linked",
    );
    assert_err(
        "FROM a.wasm\nLINK c=a.wasm\nLINK c=b.wasm\n",
        3,
        6,
        "c is linked twice (first at line 2:1)",
    );
}

#[test]
fn net_is_refused() {
    let err = assert_err(
        "FROM a.wasm\n  NET\n",
        2,
        3,
        "NET is recognised but not implemented yet",
    );
    assert!(err.hint.is_some());
    assert_err(
        "FROM a.wasm\nnet [\"example.com:443\"]\n",
        2,
        1,
        "NET is recognised but not implemented yet",
    );
}

#[test]
fn unknown_directive() {
    let err = assert_err(
        "FROM a.wasm\nENV A=1\n    COPY . /app\n",
        3,
        5,
        "unknown directive \"COPY\"",
    );
    let hint = err.hint.clone().unwrap();
    assert!(
        hint.contains("MAP") && hint.contains(KNOWN_DIRECTIVES),
        "{hint}"
    );
    assert_eq!(
        err.to_string(),
        format!("/proj/Hermitfile:3:5: unknown directive \"COPY\"\n  hint: {hint}")
    );
    assert!(parse_err("FROM a.wasm\nCMD [\"x\"]")
        .hint
        .unwrap()
        .starts_with("arguments go in ARGS"));
    // `ENV` must stand alone: ENVX is not ENV.
    assert_err(
        "FROM a.wasm\nENVX A=1\n",
        2,
        1,
        "unknown directive \"ENVX\"",
    );
}

#[test]
fn first_error_wins_even_before_from() {
    assert_err("BOGUS\n", 1, 1, "unknown directive");
}

#[test]
fn columns_count_characters() {
    assert_err(
        "FROM a.wasm\nENV A=\"ééé\" 2=x\n",
        2,
        13,
        "\"2\" is not a valid",
    );
}

#[test]
fn load_and_check_maps() {
    let dir = std::env::temp_dir().join(format!("hermitfile-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("present")).unwrap();
    std::fs::write(dir.join("a-file"), "").unwrap();
    let text = "FROM m.wasm\nMAP [\"present:/p\"]\n";
    std::fs::write(dir.join("Hermitfile"), text).unwrap();

    let file = Hermitfile::load(&dir.join("Hermitfile")).unwrap();
    assert_eq!(file.from, dir.join("m.wasm"));
    assert_eq!(
        file.maps,
        [Map {
            host: dir.join("present"),
            guest: "/p".into(),
            read_only: false
        }]
    );
    file.check_maps().unwrap();

    let text = "FROM m.wasm\nMAP [\"present:/p\", \"missing:/m\", \"a-file:/f:ro\"]\n";
    let file = Hermitfile::parse(&dir.join("Hermitfile"), text).unwrap();
    let message = format!("{:#}", file.check_maps().unwrap_err());
    assert!(message.contains("Hermitfile"), "{message}");
    assert!(
        message.contains(&format!(
            "MAP {} (guest /m): the host directory does not exist",
            dir.join("missing").display()
        )),
        "{message}"
    );
    assert!(
        message.contains("(guest /f): the host path is not a directory"),
        "{message}"
    );
    assert!(!message.contains("/p)"), "{message}");

    let missing = Hermitfile::load(&dir.join("nope")).unwrap_err();
    assert!(
        format!("{missing:#}").contains("reading the Hermitfile"),
        "{missing:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn env_arg() {
    assert_eq!(
        parse_env_arg("K=V").unwrap(),
        ("K".to_string(), "V".to_string())
    );
    let value = "\"quoted\" and spaced = x";
    assert_eq!(parse_env_arg(&format!("_K1={value}")).unwrap().1, value);
    assert_eq!(parse_env_arg("EMPTY=").unwrap().1, "");
    let err = parse_env_arg("NOEQUALS").unwrap_err().to_string();
    assert_eq!(err, "--env \"NOEQUALS\": expected KEY=VALUE");
    assert!(parse_env_arg("1X=2")
        .unwrap_err()
        .to_string()
        .contains("not a valid environment variable name"));
    assert!(parse_env_arg("=2").is_err());
    assert!(parse_env_arg("A=\0").is_err());
}
