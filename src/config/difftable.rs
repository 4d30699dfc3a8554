//! A table of small configs and what `nats-server -t -c t.conf` (v2.15.1)
//! printed for each, lines sorted (nats-server's order is random), the
//! `nats-server: ` prefix removed and Go's NUL "end of input" character
//! dropped. Our loader must print the same lines.
//!
//! Left out on purpose (nats-tpc differs):
//! - `authorization: 5` and `authorization { user: a, pass: 5 }`: nats-server
//!   adds a second line, `runtime error: invalid memory address or nil
//!   pointer dereference` (a crash it recovers from); we print only the first.
//! - `ping_interval: "-1s"`: nats-server accepts a negative interval; we
//!   refuse it (`invalid ping_interval of -1s, needs to be positive`).

use std::path::Path;

use super::apply::load;

/// (name, config text, nats-server's output lines).
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "ab",
        "a:b\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "abc",
        "a:b:c\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "arr_comma",
        "a: [,]\n",
        &["Parse error on line 1: 'Unexpected array value terminator ','.'"],
    ),
    (
        "arr_map_nested",
        "a: [ {b: 1}, [ c ] ]\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "arr_nosep",
        "a [1 2 ]\n",
        &["Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'"],
    ),
    (
        "arr_sp",
        "a: [1, 2 ]\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "arr_str",
        "a: [ \"x\" ]\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "backslash",
        "a: \\\n",
        &["Parse error on line 2: 'Invalid escape character '\\n'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"],
    ),
    (
        "bb",
        "a: 1bb\nb: 2\n",
        &["t.conf:1:0: unknown field \"a\"", "t.conf:2:1: unknown field \"b\""],
    ),
    (
        "big_suffix",
        "a: 9999999e\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "block_inner",
        "{ a: 1\n b: 2 }\n",
        &["t.conf:1:2: unknown field \"a\"", "t.conf:2:2: unknown field \"b\""],
    ),
    (
        "block_unterminated",
        "a: (\nabc\n",
        &["Parse error on line 3: 'Unexpected EOF processing block.'"],
    ),
    (
        "blockstr_inline",
        "a: (abc)\n",
        &["Parse error on line 2: 'Unexpected EOF processing block.'"],
    ),
    (
        "blockstr_paren",
        "a: (\nx)\n)\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "bool_case",
        "debug: TrUe\n",
        &["VALID"],
    ),
    (
        "c1",
        "a: 1 #c\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "c2",
        "a: [1 #c\n]\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "c3",
        "a { b: 1 #c\n}\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "c4",
        "{ a: 1 #c\n}\n",
        &["t.conf:1:2: unknown field \"a\""],
    ),
    (
        "c5",
        "{ a: 1 } # c\n",
        &["t.conf:1:2: unknown field \"a\""],
    ),
    (
        "c6",
        "{ # c\n a: 1 }\n",
        &["t.conf:2:2: unknown field \"a\""],
    ),
    (
        "c7",
        "a: 1 //c\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "c8",
        "a { //c\n b: 2 }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "c9",
        "a: [ //c\n 1 ]\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "close_top",
        "}\n",
        &["t.conf: config has no values or is empty"],
    ),
    (
        "comment_only",
        "# nothing\n",
        &["t.conf: config has no values or is empty"],
    ),
    (
        "crlf",
        "port: 4222\nhost: x\nfoo: 1\n",
        &["t.conf:3:1: unknown field \"foo\""],
    ),
    (
        "date_bad",
        "a: 20201-01-01T00:00:00Z\n",
        &["Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'"],
    ),
    (
        "date_ok",
        "a: 2020-01-01T00:00:00Z\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "date_short",
        "a: 2020-01\n",
        &["Parse error on line 2: 'Expected '-' in ISO8601 datetime, but found '\\n' instead.'"],
    ),
    (
        "dbl_comma",
        "a=1,,\n",
        &["config is invalid (t.conf:2:1)"],
    ),
    (
        "dbl_semi",
        "a: 1;;\nb: 2\n",
        &["Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got '2' instead.'"],
    ),
    (
        "dollar",
        "a: $\n",
        &["variable reference for '' on line 1 can not be found"],
    ),
    (
        "dot_start_map",
        "a { b: .5 }\n",
        &["Parse error on line 1: 'Floats must start with a digit'"],
    ),
    (
        "dq_unterminated",
        "a: \"abc\n",
        &["Parse error on line 2: 'Unexpected EOF.'"],
    ),
    (
        "dup_key",
        "port: 1\nport: 2\nport: x\n",
        &["t.conf:3:1: interface conversion: interface {} is string, not int64"],
    ),
    (
        "empty_arr",
        "a: []\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "empty_json",
        "{ }\n",
        &["t.conf: config has no values or is empty"],
    ),
    (
        "empty_map",
        "a = {}\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "exp",
        "a: 1e5\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "float_dot",
        "a: 1.\n",
        &["Parse error on line 2: 'Floats must have a digit after the '.', but got '\\n' instead.'"],
    ),
    (
        "float_dots",
        "a: 1..2\n",
        &["Parse error on line 1: 'Floats must have a digit after the '.', but got '.' instead.'"],
    ),
    (
        "hex",
        "a: 0x10\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "hexesc",
        "a: \"\\x4\"\n",
        &["Parse error on line 1: 'Expected two hexadecimal digits after '\\x', but got '4\"''"],
    ),
    (
        "hexesc_bad",
        "a: \"\\xzz\"\n",
        &["Parse error on line 1: 'Expected two hexadecimal digits after '\\x', but got 'zz''"],
    ),
    (
        "hexesc_nl",
        "a: \"\\x\n\"\n",
        &["Parse error on line 2: 'Expected two hexadecimal digits after '\\x', but hit end of line'"],
    ),
    (
        "inc_kw_case",
        "INCLUDE nope.conf\n",
        &["error parsing include file 'nope.conf', open nope.conf: no such file or directory"],
    ),
    (
        "inc_map",
        "a { include nope.conf }\n",
        &["error parsing include file 'nope.conf', open nope.conf: no such file or directory"],
    ),
    (
        "inc_q",
        "include? nope.conf\n",
        &["t.conf:1:0: unknown field \"include?\""],
    ),
    (
        "include_arr",
        "include [x]\n",
        &["Parse error on line 1: 'Expected include value but found start of an array'"],
    ),
    (
        "include_nl",
        "include \n",
        &["Parse error on line 2: 'Expected include value but found new line'"],
    ),
    (
        "include_num",
        "include 5\n",
        &["Parse error on line 1: 'Expected include value but found start of a number'"],
    ),
    (
        "ipport",
        "a: 10.0.0.1:4222\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "json_trailing",
        "{ \"port\": 4222, }\n",
        &["VALID"],
    ),
    (
        "kbx",
        "a: 1kbx\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "key_colon_eof",
        "a:",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "key_eof",
        "a",
        &["config is invalid (t.conf:1:1)"],
    ),
    (
        "key_eq_space",
        "a =\n",
        &["Parse error on line 2: 'Expected value but found new line'"],
    ),
    (
        "key_sep",
        ": 1\n",
        &["Parse error on line 1: 'Unexpected key separator ':''"],
    ),
    (
        "map_arr_end",
        "a { ] }\n",
        &["Parse error on line 1: 'Unexpected array end ']' processing map.'"],
    ),
    (
        "map_bad_end",
        "a { b: 1 x }\n",
        &["Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", but got 'x' instead.'"],
    ),
    (
        "map_comma",
        "a: {,}\n",
        &["Parse error on line 2: 'Expected a map value terminator \",\" or a map terminator \"}\", but got '' instead.'"],
    ),
    (
        "map_dq_eof",
        "a { \"x",
        &["Parse error on line 1: 'Unexpected EOF processing double quoted map key.'"],
    ),
    (
        "map_eof",
        "a {",
        &["Parse error on line 1: 'Unexpected EOF processing map.'"],
    ),
    (
        "map_key_eof",
        "a { xyz",
        &["Parse error on line 1: 'Unexpected EOF processing map key.'"],
    ),
    (
        "map_keysep",
        "a { : 1 }\n",
        &["Parse error on line 1: 'Unexpected key separator ':'.'"],
    ),
    (
        "map_semi",
        "a { b: 1; c: 2 }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "map_slash",
        "a { /b: 1 }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "map_sq_eof",
        "a { 'x",
        &["Parse error on line 1: 'Unexpected EOF processing quoted map key.'"],
    ),
    (
        "map_val_term",
        "a { b: , }\n",
        &["Parse error on line 1: 'Unexpected map value terminator \",\".'"],
    ),
    (
        "ml",
        "authorization {\n  users = [\n    {user: a, password: b}\n    {user: a, password: c}\n  ]\n}\n",
        &["t.conf:1:0: Duplicate user \"a\" detected"],
    ),
    (
        "neg_alone",
        "a: -\n",
        &["Parse error on line 2: 'Expected a digit but got '\\n'.'"],
    ),
    (
        "neg_float",
        "a: -.5\n",
        &["Parse error on line 1: 'Floats must start with a digit, not '.'.'"],
    ),
    (
        "neg_ip",
        "a: -1.2.3\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "neg_suffix",
        "a: -1k\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "nested_json",
        "{\n  \"a\": {\"b\": [1, {\"c\": 2 }]}\n}\n",
        &["t.conf:2:4: unknown field \"a\""],
    ),
    (
        "num_then_colon",
        "a: 12:34\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "q1",
        "'a b': 1\n",
        &["t.conf:1:1: unknown field \"a b\""],
    ),
    (
        "q2",
        "a { 'b c': 1, \"d e\" = 2 }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "q3",
        "\"a\" 1\n",
        &["t.conf:1:1: unknown field \"a\""],
    ),
    (
        "q4",
        "a { \"b\" 1 }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "qkey",
        "\"quoted key\" : 1\n",
        &["t.conf:1:1: unknown field \"quoted key\""],
    ),
    (
        "s1",
        "a: 1k5\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "s10",
        "server_name: 1:2\n",
        &["VALID"],
    ),
    (
        "s11",
        "server_name: 1-2\n",
        &["Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'"],
    ),
    (
        "s12",
        "server_name: 12345-1\n",
        &["Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'"],
    ),
    (
        "s13",
        "server_name: 1e5\n",
        &["VALID"],
    ),
    (
        "s14",
        "server_name: 0x1F\n",
        &["VALID"],
    ),
    (
        "s2",
        "server_name: 1kb5\n",
        &["VALID"],
    ),
    (
        "s3",
        "server_name: 5e7bcd\n",
        &["VALID"],
    ),
    (
        "s4",
        "x: [1k5, 2k ]\n",
        &["t.conf:1:0: unknown field \"x\""],
    ),
    (
        "s5",
        "x { y: 1m1 }\n",
        &["t.conf:1:0: unknown field \"x\""],
    ),
    (
        "s6",
        "server_name: 1k}\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "s7",
        "server_name: 1k]\n",
        &["Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got ']' instead.'"],
    ),
    (
        "s8",
        "x: [1k]\n",
        &["t.conf:1:0: unknown field \"x\""],
    ),
    (
        "s9",
        "server_name: 1.5.6x\n",
        &["Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'x' instead.'"],
    ),
    (
        "slash",
        "/ x\n",
        &["Parse error on line 1: 'Unexpected EOF.'"],
    ),
    (
        "slash_val",
        "a: 1 / 2\n",
        &["Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got '2' instead.'"],
    ),
    (
        "sq_in_unq",
        "a: ab'cd\n",
        &["Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'c' instead.'"],
    ),
    (
        "sq_unterminated",
        "a: 'abc\n",
        &["Parse error on line 2: 'Unexpected EOF.'"],
    ),
    (
        "tabs",
        "a:\t1\n\tb\t2\n",
        &["t.conf:1:0: unknown field \"a\"", "t.conf:2:2: unknown field \"b\""],
    ),
    (
        "two_blocks",
        "{ a: 1 }\n{ b: 2 }\n",
        &["t.conf:1:2: unknown field \"a\"", "t.conf:2:3: unknown field \"b\""],
    ),
    (
        "unq_esc",
        "a: x\\ty\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "utf8",
        "héllo: 1\nwörld: 2\n  ñ: 3\n",
        &["t.conf:1:0: unknown field \"héllo\"", "t.conf:2:1: unknown field \"wörld\"", "t.conf:3:3: unknown field \"ñ\""],
    ),
    (
        "v1",
        "a { x: 1\n b { c: $x } }\n",
        &["t.conf:1:0: unknown field \"a\""],
    ),
    (
        "v2",
        "x: 1\na { x: 2, c: $x }\n",
        &["t.conf:1:0: unknown field \"x\"", "t.conf:2:1: unknown field \"a\""],
    ),
    (
        "v3",
        "a: $x\nx: 1\n",
        &["variable reference for 'x' on line 1 can not be found"],
    ),
    (
        "v4",
        "p: {publish: x}\nauthorization { user: u, password: p, permissions: $p }\n",
        &["VALID"],
    ),
    (
        "v5",
        "a: [ $b ]\n",
        &["variable reference for 'b' on line 1 can not be found"],
    ),
    (
        "v6",
        "TOKEN: abc\nauthorization { token: $TOKEN }\n",
        &["VALID"],
    ),
    (
        "val_close",
        "a: 1 }\nb: 2\n",
        &["t.conf:1:0: unknown field \"a\"", "t.conf:2:1: unknown field \"b\""],
    ),
    (
        "var_in_arr",
        "x: 1\na: [$x, $y ]\n",
        &["variable reference for 'y' on line 2 can not be found"],
    ),
    (
        "var_used_twice",
        "x: 1\na: $x\nb: $x\n",
        &["t.conf:2:1: unknown field \"a\"", "t.conf:3:1: unknown field \"b\""],
    ),
    (
        "ws_only",
        "   \n\n",
        &["t.conf: config has no values or is empty"],
    ),
    (
        "a_ct_int",
        "authorization { users: [ {user: a, clients: 5} ] }\n",
        &["t.conf:1:35: error parsing allowed connection types: unsupported type int64"],
    ),
    (
        "a_ct_str",
        "authorization { users: [ {user: a, clients: standard} ] }\n",
        &["VALID"],
    ),
    (
        "a_fwc_mid",
        "authorization { permissions { publish: { deny: \"a.>.b\" } } }\n",
        &["t.conf:1:41: subject \"a.>.b\" is not a valid subject"],
    ),
    (
        "a_pass_only_token",
        "authorization { password: p, token: t }\n",
        &["t.conf:1:0: Cannot have a user/pass and token"],
    ),
    (
        "a_perm_allow_int",
        "authorization { permissions { publish: { allow: 5 } } }\n",
        &["t.conf:1:41: Expected subject permissions to be a subject, or array of subjects, got int64"],
    ),
    (
        "a_perm_empty_map",
        "authorization { permissions { publish: {} } }\n",
        &["VALID"],
    ),
    (
        "a_perm_pub_arr_int",
        "authorization { permissions { publish: [ a, 5 ] } }\n",
        &["t.conf:1:44: Subject in permissions array cannot be cast to string"],
    ),
    (
        "a_perm_pub_int",
        "authorization { permissions { publish: 5 } }\n",
        &["Expected subject permissions to be a subject, or array of subjects, got int64"],
    ),
    (
        "a_resp_bad",
        "authorization { permissions { allow_responses: 5 } }\n",
        &["t.conf:1:30: error parsing response permissions, expected a boolean or a map"],
    ),
    (
        "a_resp_exp_bad",
        "authorization { permissions { allow_responses: { expires: \"x\" } } }\n",
        &["t.conf:1:49: error parsing expires: time: invalid duration \"x\""],
    ),
    (
        "a_resp_exp_int",
        "authorization { permissions { allow_responses: { expires: 5 } } }\n",
        &["t.conf:1:49: error parsing expires, not a duration string"],
    ),
    (
        "a_resp_max_str",
        "authorization { permissions { allow_responses: { max: x } } }\n",
        &["t.conf:1:49: interface conversion: interface {} is string, not int64"],
    ),
    (
        "a_resp_unknown",
        "authorization { permissions { allow_responses: { foo: 1 } } }\n",
        &["t.conf:1:49: Unknown field \"foo\" parsing permissions"],
    ),
    (
        "a_sub_queue_bad",
        "authorization { permissions { subscribe: \"foo bad.\" } }\n",
        &["queue \"bad.\" is not a valid queue"],
    ),
    (
        "a_sub_queue_ok",
        "authorization { permissions { subscribe: [\"foo q\", \"bar.>\"] } }\n",
        &["VALID"],
    ),
    (
        "a_sub_three",
        "authorization { permissions { subscribe: \"a b c\" } }\n",
        &["subject \"a b c\" is not a valid subject"],
    ),
    (
        "a_timeout_bad",
        "authorization { timeout: \"x\" }\n",
        &["t.conf:1:16: error parsing authorization config, 'timeout' time: invalid duration \"x\""],
    ),
    (
        "a_timeout_bool",
        "authorization { timeout: true }\n",
        &["t.conf:1:16: error parsing authorization config, 'timeout' wrong type"],
    ),
    (
        "a_timeout_float",
        "authorization { timeout: 0.5 }\n",
        &["VALID"],
    ),
    (
        "a_timeout_high_float",
        "authorization { timeout: 70.5 }\n",
        &["t.conf:1:16: invalid use of field \"timeout\": timeout of 70.5 (70.500000 seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example"],
    ),
    (
        "a_timeout_high_str",
        "authorization { timeout: \"2m\" }\n",
        &["t.conf:1:16: invalid use of field \"timeout\": timeout of 2m (120.000000 seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example"],
    ),
    (
        "a_token_users",
        "authorization { token: t, users: [] }\n",
        &["t.conf:1:0: Can not have a token and a users array"],
    ),
    (
        "a_user_empty",
        "authorization { users: [ {user: \"\"} ] }\n",
        &["t.conf:1:26: User entry requires a user"],
    ),
    (
        "a_user_not_map",
        "authorization { users: [ x ] }\n",
        &["t.conf:1:25: Expected user entry to be a map/struct, got x"],
    ),
    (
        "a_user_unknown",
        "authorization { users: [ {user: a, zzz: 1} ] }\n",
        &["t.conf:1:35: unknown field \"zzz\""],
    ),
    (
        "a_users_empty",
        "authorization { users: [] }\n",
        &["VALID"],
    ),
    (
        "a_users_not_arr",
        "authorization { users: x }\n",
        &["t.conf:1:16: Expected users field to be an array, got x"],
    ),
    (
        "c_accounts_int",
        "cluster { accounts: 5 }\n",
        &["t.conf:1:10: error parsing accounts: unsupported type int64"],
    ),
    (
        "c_accounts_mixed",
        "cluster { accounts: [a, 5 ] }\n",
        &["t.conf:1:24: error parsing accounts: unsupported type in array int64"],
    ),
    (
        "c_auth_unknown",
        "cluster { authorization { user: a, foo: 1 } }\n",
        &["t.conf:1:35: unknown field \"foo\""],
    ),
    (
        "c_auth_users_empty",
        "cluster { authorization { users: [] } }\n",
        &["t.conf:1:10: Cluster authorization does not allow multiple users"],
    ),
    (
        "c_comp_bool",
        "cluster { compression: true }\n",
        &["VALID"],
    ),
    (
        "c_comp_int",
        "cluster { compression: 5 }\n",
        &["t.conf:1:10: field \"compression\" should be a boolean or a structure, got int64"],
    ),
    (
        "c_comp_map",
        "cluster { compression { mode: s2_best, rtt_thresholds: [\"10ms\", \"50ms\"] } }\n",
        &["VALID"],
    ),
    (
        "c_comp_map_bad",
        "cluster { compression { mode: s2_best, foo: 1 } }\n",
        &["t.conf:1:39: unknown field \"foo\""],
    ),
    (
        "c_comp_rtt_bad",
        "cluster { compression { rtt: [\"x\"] } }\n",
        &["t.conf:1:24: time: invalid duration \"x\""],
    ),
    (
        "c_listen_int",
        "cluster { listen: 6222 }\n",
        &["VALID"],
    ),
    (
        "c_name_int",
        "cluster { name: 5 }\n",
        &["t.conf:1:10: interface conversion: interface {} is int64, not string"],
    ),
    (
        "c_not_map",
        "cluster: 5\n",
        &["t.conf:1:0: Expected map to define cluster, got int64"],
    ),
    (
        "c_perm_bad_sub",
        "cluster { permissions { export: \"a..b\" } }\n",
        &["subject \"a..b\" is not a valid subject"],
    ),
    (
        "c_perm_deny_bad",
        "cluster { permissions { import: { deny: \"a b\" } } }\n",
        &["t.conf:1:34: subject \"a b\" is not a valid subject"],
    ),
    (
        "c_ping_big",
        "cluster { ping_interval: 50 }\n",
        &["t.conf:1:10: Cluster 'ping_interval' will reset to 30s which is the max for routes", "t.conf:1:10: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"],
    ),
    (
        "c_ping_int",
        "cluster { ping_interval: 5 }\n",
        &["t.conf:1:10: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"],
    ),
    (
        "c_port_str",
        "cluster { port: x }\n",
        &["t.conf:1:10: interface conversion: interface {} is string, not int64"],
    ),
    (
        "c_routes_int",
        "cluster { routes: [ 5 ] }\n",
        &["t.conf:1:20: interface conversion: interface {} is int64, not string"],
    ),
    (
        "c_routes_str",
        "cluster { routes: \"nats://a:1\" }\n",
        &["t.conf:1:10: interface conversion: interface {} is string, not []interface {}"],
    ),
    (
        "c_tls_known_urls",
        "cluster { tls { verify_cert_and_check_known_urls: true } }\n",
        &["VALID"],
    ),
    (
        "c_tls_unknown",
        "cluster { tls { zz: 1 } }\n",
        &["t.conf:1:16: error parsing tls config, unknown field \"zz\""],
    ),
    (
        "c_url_colon0",
        "cluster { routes: [ \":1\" ] }\n",
        &["t.conf:1:21: error parsing route url [\":1\"]"],
    ),
    (
        "c_url_noscheme",
        "cluster { routes: [ \"host/path:1\" ] }\n",
        &["VALID"],
    ),
    (
        "c_url_pct",
        "cluster { routes: [ \"nats://a%zz:1\" ] }\n",
        &["t.conf:1:21: error parsing route url [\"nats://a%zz:1\"]"],
    ),
    (
        "c_url_space",
        "cluster { routes: [ \"nats://a b:1\" ] }\n",
        &["t.conf:1:21: error parsing route url [\"nats://a b:1\"]"],
    ),
    (
        "c_url_trim",
        "cluster { routes: [ \" nats://a:1 \" ] }\n",
        &["VALID"],
    ),
    (
        "t_conn_zero",
        "max_conn: 0\n",
        &["VALID"],
    ),
    (
        "t_ff",
        "feature_flags { a: true, b: 1 }\n",
        &["t.conf:1:25: error parsing feature flag \"b\": expected bool, got int64"],
    ),
    (
        "t_ff_int",
        "feature_flags: 1\n",
        &["t.conf:1:0: error parsing feature flags: unsupported type int64"],
    ),
    (
        "t_host_int",
        "net: 1\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "t_http_base",
        "http_base_path: 5\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "t_js_false",
        "jetstream: false\n",
        &["VALID"],
    ),
    (
        "t_js_int",
        "jetstream: 5\n",
        &["t.conf:1:0: Expected map, bool or string to define JetStream, got int64"],
    ),
    (
        "t_js_map_enabled_str",
        "jetstream { enabled: \"no\" }\n",
        &["t.conf:1:0: interface conversion: interface {} is string, not bool"],
    ),
    (
        "t_ld_frac",
        "lame_duck_duration: \"29.5s\"\n",
        &["t.conf:1:0: invalid lame_duck_duration of 29.5s, minimum is 30 seconds"],
    ),
    (
        "t_ld_neg",
        "lame_duck_duration: \"-40s\"\n",
        &["t.conf:1:0: invalid lame_duck_duration of -40s, minimum is 30 seconds"],
    ),
    (
        "t_ld_ok",
        "lame_duck_duration: \"30s\"\n",
        &["VALID"],
    ),
    (
        "t_ldg_int",
        "lame_duck_grace_period: 5\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "t_listen_badv6",
        "listen: \"::1:4222\"\n",
        &["t.conf:1:0: could not parse address string \"::1:4222\""],
    ),
    (
        "t_listen_emptyport",
        "listen: \"host:\"\n",
        &["t.conf:1:0: could not parse port \"\""],
    ),
    (
        "t_listen_float",
        "listen: 1.5\n",
        &["t.conf:1:0: expected port or host:port, got float64"],
    ),
    (
        "t_listen_plusport",
        "listen: \"h:+5\"\n",
        &["VALID"],
    ),
    (
        "t_listen_v6",
        "listen: \"[::1]:4222\"\n",
        &["VALID"],
    ),
    (
        "t_logsize",
        "log_size_limit: 1GB\nlogfile_max_num: 3\n",
        &["VALID"],
    ),
    (
        "t_maxclosed_str",
        "max_closed_clients: x\n",
        &["t.conf:1:0: interface conversion: interface {} is string, not int64"],
    ),
    (
        "t_md_int",
        "server_metadata: 5\n",
        &["t.conf:1:0: error parsing metadata: unsupported type int64"],
    ),
    (
        "t_md_nonstr",
        "server_metadata { a: 1 }\n",
        &["t.conf:1:18: interface conversion: interface {} is int64, not string"],
    ),
    (
        "t_noauth_int",
        "no_auth_user: 1\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "t_nohdr",
        "no_header_support: 1\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not bool"],
    ),
    (
        "t_payload_neg",
        "max_payload: -5\n",
        &["VALID"],
    ),
    (
        "t_pending_str",
        "max_pending: \"1MB\"\n",
        &["t.conf:1:0: interface conversion: interface {} is string, not int64"],
    ),
    (
        "t_ping_float",
        "ping_interval: 1.5\n",
        &["t.conf:1:0: interface conversion: interface {} is float64, not int64", "t.conf:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"],
    ),
    (
        "t_pingmax_bool",
        "ping_max: true\n",
        &["t.conf:1:0: interface conversion: interface {} is bool, not int64"],
    ),
    (
        "t_port_str",
        "port: \"4222\"\n",
        &["t.conf:1:0: interface conversion: interface {} is string, not int64"],
    ),
    (
        "t_proxy_proto_false",
        "proxy_protocol: false\n",
        &["VALID"],
    ),
    (
        "t_remote_syslog_bool",
        "remote_syslog: true\n",
        &["t.conf:1:0: interface conversion: interface {} is bool, not string"],
    ),
    (
        "t_storedir_dup",
        "store_dir: a\nstoredir: b\n",
        &["t.conf:2:1: Duplicate 'store_dir' configuration"],
    ),
    (
        "t_subtok_ok",
        "max_sub_tokens: 255\n",
        &["VALID"],
    ),
    (
        "t_sys_arr",
        "system: [a]\n",
        &["t.conf:1:0: system account name must be a string"],
    ),
    (
        "t_tags_int",
        "server_tags: 5\n",
        &["t.conf:1:0: error parsing tags: unsupported type int64"],
    ),
    (
        "t_tags_mixed",
        "server_tags: [a, 1 ]\n",
        &["t.conf:1:0: error parsing tags: unsupported type *conf.token where string is expected"],
    ),
    (
        "t_wd_map",
        "write_deadline: {}\n",
        &["t.conf:1:0: interface conversion: interface {} is map[string]interface {}, not int64", "t.conf:1:0: invalid use of field \"write_deadline\": write_deadline should be converted to a duration"],
    ),
    (
        "t_wt_int",
        "write_timeout: 5\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not string"],
    ),
    (
        "tl_allow_insecure",
        "tls { cipher_suites: [\"TLS_RSA_WITH_RC4_128_SHA\"], allow_insecure_cipher_suites: true }\n",
        &["VALID"],
    ),
    (
        "tl_ca_missing",
        "tls { ca_file: \"nope.pem\" }\n",
        &["t.conf:1:0: open nope.pem: no such file or directory"],
    ),
    (
        "tl_cert_int",
        "tls { cert_file: 5 }\n",
        &["t.conf:1:6: error parsing tls config, expected 'cert_file' to be filename"],
    ),
    (
        "tl_ciphers_empty",
        "tls { cipher_suites: [] }\n",
        &["t.conf:1:6: error parsing tls config, 'cipher_suites' cannot be empty"],
    ),
    (
        "tl_ciphers_str",
        "tls { cipher_suites: \"x\" }\n",
        &["t.conf:1:6: interface conversion: interface {} is string, not []interface {}"],
    ),
    (
        "tl_curves_bad",
        "tls { curve_preferences: [\"X25519\", \"P999\"] }\n",
        &["t.conf:1:37: unrecognized curve preference P999"],
    ),
    (
        "tl_curves_empty",
        "tls { curve_preferences: [] }\n",
        &["t.conf:1:6: error parsing tls config, 'curve_preferences' cannot be empty"],
    ),
    (
        "tl_hf_auto",
        "tls { handshake_first: auto }\n",
        &["VALID"],
    ),
    (
        "tl_hf_dur",
        "tls { first: \"300ms\" }\n",
        &["VALID"],
    ),
    (
        "tl_hf_int",
        "tls { immediate: 5 }\n",
        &["t.conf:1:6: field \"immediate\" should be a boolean or a string, got int64"],
    ),
    (
        "tl_keyonly",
        "tls { key_file: k }\n",
        &["t.conf:1:0: missing 'cert_file' in TLS configuration"],
    ),
    (
        "tl_known_urls",
        "tls { verify_cert_and_check_known_urls: true }\n",
        &["t.conf:1:6: verify_cert_and_check_known_urls not supported in this context"],
    ),
    (
        "tl_minv_13",
        "tls { min_version: \"1.3\" }\n",
        &["VALID"],
    ),
    (
        "tl_minv_bad",
        "tls { min_version: \"2.0\" }\n",
        &["t.conf:1:6: error parsing tls config: unknown version: 2.0"],
    ),
    (
        "tl_minv_int",
        "tls { min_version: 5 }\n",
        &["t.conf:1:6: error parsing tls config: 'min_version' wrong type: 5"],
    ),
    (
        "tl_not_map",
        "tls: 5\n",
        &["t.conf:1:0: interface conversion: interface {} is int64, not map[string]interface {}"],
    ),
    (
        "tl_pinned_bad",
        "tls { pinned_certs: [ \"abc\" ] }\n",
        &["t.conf:1:23: error parsing tls config, 'pinned_certs' key abc does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"],
    ),
    (
        "tl_pinned_ok",
        "tls { pinned_certs: [ \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" ] }\n",
        &["VALID"],
    ),
    (
        "tl_pinned_str",
        "tls { pinned_certs: x }\n",
        &["t.conf:1:6: error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"],
    ),
    (
        "tl_rate_str",
        "tls { connection_rate_limit: x }\n",
        &["t.conf:1:6: error parsing tls config, 'connection_rate_limit' wrong type"],
    ),
    (
        "tl_rsa_ciphers",
        "tls { cipher_suites: [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_RSA_WITH_AES_256_CBC_SHA\", \"TLS_RSA_WITH_AES_128_GCM_SHA256\", \"TLS_RSA_WITH_AES_256_GCM_SHA384\", \"TLS_RSA_WITH_3DES_EDE_CBC_SHA\", \"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256\", \"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA\", \"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA\", \"TLS_ECDHE_RSA_WITH_RC4_128_SHA\", \"TLS_RSA_WITH_AES_128_CBC_SHA256\"] }\n",
        &["t.conf:1:0: insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_256_CBC_SHA, TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, TLS_ECDHE_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_AES_128_CBC_SHA256"],
    ),
    (
        "tl_secure_ciphers",
        "tls { cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\", \"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\", \"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\", \"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA\", \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\", \"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\", \"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\", \"TLS_AES_128_GCM_SHA256\", \"TLS_AES_256_GCM_SHA384\", \"TLS_CHACHA20_POLY1305_SHA256\"] }\n",
        &["VALID"],
    ),
    (
        "tl_timeout_bad",
        "tls { timeout: \"x\" }\n",
        &["t.conf:1:6: error parsing tls config, 'timeout' time: invalid duration \"x\""],
    ),
    (
        "tl_verify_int",
        "tls { verify: 1 }\n",
        &["t.conf:1:6: error parsing tls config, expected 'verify' to be a boolean"],
    ),
    (
        "tl_vmap",
        "tls { verify_and_map: true }\n",
        &["VALID"],
    ),
];

fn ours(dir: &Path, src: &str) -> Vec<String> {
    let f = dir.join("t.conf");
    if let Err(e) = std::fs::write(&f, src) {
        panic!("{}: {e}", f.display());
    }
    let lines = match load(&f) {
        Ok((_, w)) if w.is_empty() => vec!["VALID".to_string()],
        Ok((_, w)) => w,
        Err(e) => e,
    };
    let prefix = format!("{}/", dir.display());
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| l.replace(&prefix, "").replace('\0', ""))
        .collect();
    out.sort();
    out
}

#[test]
fn small_configs_match_nats_server() {
    let dir = std::env::temp_dir().join(format!("ntpc-difftable-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    let mut failures = Vec::new();
    for (name, src, want) in CASES {
        let got = ours(&dir, src);
        if got != *want {
            failures.push(format!("{name}: {src:?}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
