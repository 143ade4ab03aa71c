  ;; The decision runtime of every emitted module (design section 5, ABI in docs/wasm-abi.md).
  ;; The emitter (src/wasm/emit.rs) wraps this text in a module together with the policy's
  ;; tables (data segments at the addresses held by the $T_* globals), one condition function
  ;; per conditional rule (table $conds), and the layout globals ($S_*: scratch, input, output).
  ;;
  ;; Core WebAssembly 1.0 only: no bulk memory, no multi-value, no sign extension.
  ;; Every read of the input is bounds-checked; a malformed request sets $bad and the decision
  ;; is an error code, never an allow.

  (type $cond_t (func (result i32)))

  ;; ---- per-decision state ------------------------------------------------------------
  (global $pos (mut i32) (i32.const 0))        ;; input cursor
  (global $end (mut i32) (i32.const 0))        ;; input end
  (global $bad (mut i32) (i32.const 0))        ;; malformed input seen
  (global $gen (mut i32) (i32.const 0))        ;; decision counter for the group, set and node stamps
  (global $out_n (mut i32) (i32.const 0))      ;; records written
  (global $overflow (mut i32) (i32.const 0))   ;; records that did not fit
  (global $err (mut i32) (i32.const 0))        ;; first error code (positive), 0 = none
  (global $rule (mut i32) (i32.const -1))      ;; deciding rule
  (global $missing (mut i32) (i32.const 0))    ;; attribute slot a condition could not read
  (global $pid_ptr (mut i32) (i32.const 0))    ;; principal id bytes
  (global $pid_len (mut i32) (i32.const 0))
  (global $pid_val (mut i32) (i32.const 0))    ;; principal.id as an encoded value
  (global $rid_val (mut i32) (i32.const 0))    ;; resource.id as an encoded value; 0 = bare target
  (global $target (mut i32) (i32.const -1))
  (global $action (mut i32) (i32.const -1))
  (global $nseg (mut i32) (i32.const 0))       ;; whole segments of the path
  (global $bare (mut i32) (i32.const 0))       ;; 1 when the path ends in a bare type
  (global $nsubj (mut i32) (i32.const 0))
  (global $nnodes (mut i32) (i32.const 0))
  (global $idfree (mut i32) (i32.const 0))     ;; next free byte of the id buffer
  (global $clash (mut i32) (i32.const 0))      ;; an exclusive set is held twice
  (global $denies (mut i32) (i32.const 0))
  (global $allows (mut i32) (i32.const 0))
  (global $min_deny (mut i32) (i32.const -1))
  (global $min_allow (mut i32) (i32.const -1))

  ;; ---- exports -----------------------------------------------------------------------
  (func (export "rbac_abi_version") (result i32) (i32.const 1))
  (func (export "rbac_input_ptr") (result i32) (global.get $S_input))
  (func (export "rbac_input_cap") (result i32) (global.get $S_input_cap))
  (func (export "rbac_output_ptr") (result i32) (global.get $S_output))
  (func (export "rbac_output_len") (result i32) (global.get $out_n))
  (func (export "rbac_output_overflow") (result i32) (global.get $overflow))
  (func (export "rbac_rule") (result i32) (global.get $rule))
  (func (export "rbac_principal_ptr") (result i32) (global.get $pid_ptr))
  (func (export "rbac_principal_len") (result i32) (global.get $pid_len))

  ;; ---- bytes and strings ---------------------------------------------------------------
  ;; Word-wise reads may look up to 7 bytes past a string's end: every string lies below the
  ;; end of memory by more than that (the layout ends in padding).

  ;; The mask of the low n bytes of a word (0 < n < 8).
  (func $low_bytes (param $n i32) (result i64)
    (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (local.get $n) (i32.const 3)))) (i64.const 1)))

  ;; Whether the n bytes at a and at b are equal, eight at a time.
  (func $eq_bytes (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.lt_u (local.get $n) (i32.const 8)))
        (if (i64.ne (i64.load (local.get $a)) (i64.load (local.get $b))) (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 8)))
        (br $next)))
    (if (result i32) (local.get $n)
      (then (i64.eqz (i64.and (i64.xor (i64.load (local.get $a)) (i64.load (local.get $b))) (call $low_bytes (local.get $n)))))
      (else (i32.const 1))))

  ;; Copies n bytes from src to dst eight at a time (may write up to 7 bytes past dst + n;
  ;; every destination buffer has room for that).
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (i64.store (local.get $dst) (i64.load (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 8)))
        (br $next))))

  ;; ---- hash tables (src/wasm/tables.rs builds them) --------------------------------------
  (func $fmix (param $h i32) (result i32)
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0x85ebca6b)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  ;; The hash of the l bytes at p: words of eight bytes (the last zero-padded), seeded with l.
  (func $hash (param $p i32) (param $l i32) (result i32)
    (local $h i64)
    (local.set $h (i64.extend_i32_u (local.get $l)))
    (block $done
      (loop $next
        (br_if $done (i32.lt_u (local.get $l) (i32.const 8)))
        (local.set $h (i64.mul (i64.xor (i64.rotl (local.get $h) (i64.const 5)) (i64.load (local.get $p)))
                               (i64.const 0x517cc1b727220a95)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $l (i32.sub (local.get $l) (i32.const 8)))
        (br $next)))
    (if (local.get $l)
      (then (local.set $h (i64.mul (i64.xor (i64.rotl (local.get $h) (i64.const 5))
                                            (i64.and (i64.load (local.get $p)) (call $low_bytes (local.get $l))))
                                   (i64.const 0x517cc1b727220a95)))))
    (call $fmix (i32.wrap_i64 (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))))

  ;; Name table: 16-byte slots [hash, str_ptr, str_len, value], empty when str_ptr is 0,
  ;; probed linearly from hash & mask. Returns the value or -1. (tab 0, mask 0 is the empty
  ;; table: the first bytes of memory are zero.)
  (func $name_find (param $tab i32) (param $mask i32) (param $p i32) (param $l i32) (result i32)
    (local $h i32) (local $i i32) (local $e i32)
    (local.set $h (call $hash (local.get $p) (local.get $l)))
    (local.set $i (local.get $h))
    (loop $probe
      (local.set $e (i32.add (local.get $tab) (i32.shl (i32.and (local.get $i) (local.get $mask)) (i32.const 4))))
      (if (i32.eqz (i32.load offset=4 (local.get $e))) (then (return (i32.const -1))))
      (if (i32.and (i32.eq (i32.load (local.get $e)) (local.get $h)) (i32.eq (i32.load offset=8 (local.get $e)) (local.get $l)))
        (then (if (call $eq_bytes (i32.load offset=4 (local.get $e)) (local.get $p) (local.get $l))
          (then (return (i32.load offset=12 (local.get $e)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $probe))
    (i32.const -1))

  ;; Scope tree: 24-byte slots [hash, node, type, id_ptr, id_len, child], empty when id_ptr is
  ;; 0. Returns the child node or -1.
  (func $child_find (param $node i32) (param $ty i32) (param $p i32) (param $l i32) (result i32)
    (local $h i32) (local $i i32) (local $e i32)
    (local.set $h (call $fmix (i32.add (i32.add (call $hash (local.get $p) (local.get $l))
      (i32.mul (local.get $node) (i32.const 0x9e3779b1))) (i32.mul (local.get $ty) (i32.const 0x7feb352d)))))
    (local.set $i (local.get $h))
    (loop $probe
      (local.set $e (i32.add (global.get $T_children) (i32.mul (i32.and (local.get $i) (global.get $T_mchildren)) (i32.const 24))))
      (if (i32.eqz (i32.load offset=12 (local.get $e))) (then (return (i32.const -1))))
      (if (i32.and (i32.and (i32.eq (i32.load (local.get $e)) (local.get $h))
                            (i32.eq (i32.load offset=4 (local.get $e)) (local.get $node)))
                   (i32.and (i32.eq (i32.load offset=8 (local.get $e)) (local.get $ty))
                            (i32.eq (i32.load offset=16 (local.get $e)) (local.get $l))))
        (then (if (call $eq_bytes (i32.load offset=12 (local.get $e)) (local.get $p) (local.get $l))
          (then (return (i32.load offset=20 (local.get $e)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $probe))
    (i32.const -1))

  ;; Role table: 24-byte slots [role + 1, type, action, list_ptr, list_len, 0], empty when
  ;; the first word is 0. Returns the slot's address or 0.
  (func $role_find (param $r i32) (param $ty i32) (param $a i32) (result i32)
    (local $i i32) (local $e i32)
    (local.set $i (call $fmix (i32.add (i32.add (i32.mul (local.get $r) (i32.const 0x9e3779b1))
      (i32.mul (local.get $ty) (i32.const 0x85ebca77))) (i32.mul (local.get $a) (i32.const 0xc2b2ae3d)))))
    (local.set $r (i32.add (local.get $r) (i32.const 1)))
    (loop $probe
      (local.set $e (i32.add (global.get $T_role_table) (i32.mul (i32.and (local.get $i) (global.get $T_mrole_table)) (i32.const 24))))
      (if (i32.eqz (i32.load (local.get $e))) (then (return (i32.const 0))))
      (if (i32.and (i32.eq (i32.load (local.get $e)) (local.get $r))
                   (i32.and (i32.eq (i32.load offset=4 (local.get $e)) (local.get $ty))
                            (i32.eq (i32.load offset=8 (local.get $e)) (local.get $a))))
        (then (return (local.get $e))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $probe))
    (i32.const 0))

  ;; ---- reading the request ------------------------------------------------------------
  ;; Reserves n bytes at the cursor; returns their address, or 0 (and sets $bad) when the
  ;; input is shorter.
  (func $take (param $n i32) (result i32)
    (local $p i32)
    (if (i32.or (global.get $bad)
                (i32.gt_u (local.get $n) (i32.sub (global.get $end) (global.get $pos))))
      (then (global.set $bad (i32.const 1)) (return (global.get $S_zero))))
    (local.set $p (global.get $pos))
    (global.set $pos (i32.add (global.get $pos) (local.get $n)))
    (local.get $p))

  (func $rd_u8 (result i32) (i32.load8_u (call $take (i32.const 1))))
  (func $rd_u32 (result i32) (i32.load (call $take (i32.const 4))))

  ;; A string: u32 length then bytes. Returns the address of the length field (0 on error);
  ;; the bytes follow it.
  (func $rd_str (result i32)
    (local $p i32)
    (local.set $p (call $take (i32.const 4)))
    (drop (call $take (i32.load (local.get $p))))
    (if (result i32) (global.get $bad) (then (i32.const 0)) (else (local.get $p))))

  ;; An encoded value: returns its address (tag byte), checking its shape to depth 129 (hosts send arrays to depth 128).
  (func $rd_value (param $depth i32) (result i32)
    (local $p i32) (local $tag i32) (local $n i32)
    (local.set $p (global.get $pos))
    (local.set $tag (call $rd_u8))
    (block $ok
      (br_if $ok (i32.eqz (local.get $tag)))                                  ;; null
      (if (i32.eq (local.get $tag) (i32.const 1)) (then (drop (call $rd_str)) (br $ok)))
      (if (i32.eq (local.get $tag) (i32.const 2)) (then (drop (call $take (i32.const 8))) (br $ok)))
      (if (i32.eq (local.get $tag) (i32.const 3))                              ;; bool: 0 or 1
        (then (if (i32.gt_u (call $rd_u8) (i32.const 1)) (then (global.set $bad (i32.const 1)))) (br $ok)))
      (br_if $ok (i32.eq (local.get $tag) (i32.const 5)))                     ;; other JSON
      (if (i32.and (i32.eq (local.get $tag) (i32.const 4)) (i32.lt_u (local.get $depth) (i32.const 129)))
        (then
          (local.set $n (call $rd_u32))
          (block $done
            (loop $next
              (br_if $done (i32.or (global.get $bad) (i32.eqz (local.get $n))))
              (drop (call $rd_value (i32.add (local.get $depth) (i32.const 1))))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br $next)))
          (br $ok)))
      (global.set $bad (i32.const 1)))
    (local.get $p))

  ;; Size in bytes of an encoded value already checked by $rd_value.
  (func $val_size (param $p i32) (result i32)
    (local $tag i32) (local $n i32) (local $q i32)
    (local.set $tag (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $tag) (i32.const 1)) (then (return (i32.add (i32.const 5) (i32.load offset=1 (local.get $p))))))
    (if (i32.eq (local.get $tag) (i32.const 2)) (then (return (i32.const 9))))
    (if (i32.eq (local.get $tag) (i32.const 3)) (then (return (i32.const 2))))
    (if (i32.eq (local.get $tag) (i32.const 4))
      (then
        (local.set $n (i32.load offset=1 (local.get $p)))
        (local.set $q (i32.add (local.get $p) (i32.const 5)))
        (block $done
          (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $q (i32.add (local.get $q) (call $val_size (local.get $q))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (return (i32.sub (local.get $q) (local.get $p)))))
    (i32.const 1))

  ;; Whether an encoded value has the declared type: 1 string, 2 int, 3 bool, +16 per `set<>`.
  (func $type_ok (param $p i32) (param $ty i32) (result i32)
    (local $tag i32) (local $n i32) (local $q i32)
    (local.set $tag (i32.load8_u (local.get $p)))
    (if (i32.ge_u (local.get $ty) (i32.const 16))
      (then
        (if (i32.ne (local.get $tag) (i32.const 4)) (then (return (i32.const 0))))
        (local.set $n (i32.load offset=1 (local.get $p)))
        (local.set $q (i32.add (local.get $p) (i32.const 5)))
        (block $done
          (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (if (i32.eqz (call $type_ok (local.get $q) (i32.sub (local.get $ty) (i32.const 16))))
              (then (return (i32.const 0))))
            (local.set $q (i32.add (local.get $q) (call $val_size (local.get $q))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $ty) (i32.const 3))
      (then (return (i32.and (i32.eq (local.get $tag) (i32.const 3))
                             (i32.le_u (i32.load8_u offset=1 (local.get $p)) (i32.const 1))))))
    (i32.eq (local.get $tag) (local.get $ty)))

  ;; ---- values in conditions -------------------------------------------------------------
  (func $val_eq (param $a i32) (param $b i32) (result i32)
    (local $tag i32)
    (local.set $tag (i32.load8_u (local.get $a)))
    (if (i32.ne (local.get $tag) (i32.load8_u (local.get $b))) (then (return (i32.const 0))))
    (if (i32.eq (local.get $tag) (i32.const 1))
      (then
        (if (i32.ne (i32.load offset=1 (local.get $a)) (i32.load offset=1 (local.get $b))) (then (return (i32.const 0))))
        (return (call $eq_bytes (i32.add (local.get $a) (i32.const 5)) (i32.add (local.get $b) (i32.const 5))
          (i32.load offset=1 (local.get $a))))))
    (if (i32.eq (local.get $tag) (i32.const 2))
      (then (return (i64.eq (i64.load offset=1 (local.get $a)) (i64.load offset=1 (local.get $b))))))
    (if (i32.eq (local.get $tag) (i32.const 3))
      (then (return (i32.eq (i32.load8_u offset=1 (local.get $a)) (i32.load8_u offset=1 (local.get $b))))))
    (if (i32.eq (local.get $tag) (i32.const 4))
      (then (return (i32.and (call $subset (local.get $a) (local.get $b)) (call $subset (local.get $b) (local.get $a))))))
    (i32.const 0))

  ;; Every element of set $a is in set $b.
  (func $subset (param $a i32) (param $b i32) (result i32)
    (local $n i32) (local $q i32)
    (local.set $n (i32.load offset=1 (local.get $a)))
    (local.set $q (i32.add (local.get $a) (i32.const 5)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.eqz (call $set_has (local.get $b) (local.get $q))) (then (return (i32.const 0))))
        (local.set $q (i32.add (local.get $q) (call $val_size (local.get $q))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func $set_has (param $set i32) (param $elem i32) (result i32)
    (local $n i32) (local $q i32)
    (if (i32.ne (i32.load8_u (local.get $set)) (i32.const 4)) (then (return (i32.const 0))))
    (local.set $n (i32.load offset=1 (local.get $set)))
    (local.set $q (i32.add (local.get $set) (i32.const 5)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (if (call $val_eq (local.get $q) (local.get $elem)) (then (return (i32.const 1))))
        (local.set $q (i32.add (local.get $q) (call $val_size (local.get $q))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $bool_val (param $b i32) (result i32)
    (select (global.get $S_true) (global.get $S_false) (local.get $b)))

  (func $in_group (param $g i32) (result i32)
    (i32.eq (i32.load (i32.add (global.get $S_gseen) (i32.shl (local.get $g) (i32.const 2)))) (global.get $gen)))

  (func $attr (param $slot i32) (result i32)
    (i32.load (i32.add (global.get $S_attrs) (i32.shl (local.get $slot) (i32.const 2)))))

  ;; ---- output records -----------------------------------------------------------------
  ;; 24-byte records: [kind, a, b, c, d, e].
  (func $emit (param $kind i32) (param $a i32) (param $b i32) (param $c i32) (param $d i32) (param $e i32)
    (local $p i32)
    (if (i32.ge_u (global.get $out_n) (global.get $S_output_cap))
      (then (global.set $overflow (i32.add (global.get $overflow) (i32.const 1))) (return)))
    (local.set $p (i32.add (global.get $S_output) (i32.mul (global.get $out_n) (i32.const 24))))
    (i32.store (local.get $p) (local.get $kind))
    (i32.store offset=4 (local.get $p) (local.get $a))
    (i32.store offset=8 (local.get $p) (local.get $b))
    (i32.store offset=12 (local.get $p) (local.get $c))
    (i32.store offset=16 (local.get $p) (local.get $d))
    (i32.store offset=20 (local.get $p) (local.get $e))
    (global.set $out_n (i32.add (global.get $out_n) (i32.const 1))))

  ;; An invalid-request error (record kind 5): code and two details.
  (func $error (param $code i32) (param $d1 i32) (param $d2 i32)
    (if (i32.eqz (global.get $err)) (then (global.set $err (local.get $code))))
    (call $emit (i32.const 5) (local.get $code) (local.get $d1) (local.get $d2) (i32.const 0) (i32.const 0)))

  ;; ---- subjects -----------------------------------------------------------------------
  ;; Subject list entries at $S_subjects: [subject id, display] where display is 0 for the
  ;; principal id, 1 for everyone, 2 + g for group g.
  (func $add_group (param $g i32)
    (local $p i32)
    (if (i32.or (i32.lt_s (local.get $g) (i32.const 0)) (call $in_group (local.get $g))) (then (return)))
    (i32.store (i32.add (global.get $S_gseen) (i32.shl (local.get $g) (i32.const 2))) (global.get $gen))
    (local.set $p (i32.add (global.get $S_subjects) (i32.shl (global.get $nsubj) (i32.const 3))))
    (i32.store (local.get $p) (i32.add (local.get $g) (i32.const 1)))
    (i32.store offset=4 (local.get $p) (i32.add (local.get $g) (i32.const 2)))
    (global.set $nsubj (i32.add (global.get $nsubj) (i32.const 1))))

  (func $add_subject (param $s i32) (param $display i32)
    (local $p i32)
    (local.set $p (i32.add (global.get $S_subjects) (i32.shl (global.get $nsubj) (i32.const 3))))
    (i32.store (local.get $p) (local.get $s))
    (i32.store offset=4 (local.get $p) (local.get $display))
    (global.set $nsubj (i32.add (global.get $nsubj) (i32.const 1))))

  ;; Writes an encoded string value (tag 1) of n bytes from src at dst; returns dst.
  (func $make_str (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (i32.store8 (local.get $dst) (i32.const 1))
    (i32.store offset=1 (local.get $dst) (local.get $n))
    (call $copy (i32.add (local.get $dst) (i32.const 5)) (local.get $src) (local.get $n))
    (local.get $dst))

  ;; ---- principal ----------------------------------------------------------------------
  ;; Kind 0: id, groups. Kind 1: identity name, claims [(name, value)].
  (func $read_principal
    (local $kind i32) (local $s i32) (local $n i32) (local $g i32) (local $ident i32) (local $info i32)
    (local $uc i32) (local $user i32) (local $groups i32) (local $name i32) (local $v i32) (local $q i32)
    (local $k i32) (local $list i32)
    (local.set $kind (call $rd_u8))
    (if (i32.eqz (local.get $kind))
      (then
        (local.set $s (call $rd_str))
        (global.set $pid_ptr (i32.add (local.get $s) (i32.const 4)))
        (global.set $pid_len (i32.load (local.get $s)))
        (local.set $n (call $rd_u32))
        (block $done
          (loop $next
            (br_if $done (i32.or (global.get $bad) (i32.eqz (local.get $n))))
            (local.set $s (call $rd_str))
            (if (i32.eqz (global.get $bad))
              (then (call $add_group (call $name_find (global.get $T_groups) (global.get $T_mgroups)
                (i32.add (local.get $s) (i32.const 4)) (i32.load (local.get $s))))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (call $check_principal_id)
        (return)))
    (if (i32.ne (local.get $kind) (i32.const 1)) (then (global.set $bad (i32.const 1)) (return)))
    ;; Identity principal: read every claim first, then map.
    (local.set $s (call $rd_str))
    (local.set $n (call $rd_u32))
    (local.set $q (global.get $pos))
    (local.set $k (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.or (global.get $bad) (i32.eqz (local.get $k))))
        (drop (call $rd_str))
        (drop (call $rd_value (i32.const 0)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $next)))
    (if (global.get $bad) (then (return)))
    (local.set $ident (call $name_find (global.get $T_identities) (global.get $T_midentities)
      (i32.add (local.get $s) (i32.const 4)) (i32.load (local.get $s))))
    (if (i32.lt_s (local.get $ident) (i32.const 0)) (then (call $error (i32.const 712) (i32.const 0) (i32.const 0)) (return)))
    ;; identity info: 28 bytes [user_ptr, user_len, groups_ptr, groups_len (-1: none), alias_tab, alias_n, pad]
    (local.set $info (i32.add (global.get $T_identity_info) (i32.mul (local.get $ident) (i32.const 28))))
    (local.set $user (call $find_claim (local.get $q) (local.get $n) (i32.load (local.get $info)) (i32.load offset=4 (local.get $info))))
    (if (i32.eqz (local.get $user)) (then (call $error (i32.const 713) (i32.const 0) (local.get $ident)) (return)))
    (if (i32.ne (i32.load8_u (local.get $user)) (i32.const 1)) (then (call $error (i32.const 713) (i32.const 1) (local.get $ident)) (return)))
    (if (i32.eqz (i32.load offset=1 (local.get $user))) (then (call $error (i32.const 713) (i32.const 2) (local.get $ident)) (return)))
    (if (i32.ge_s (i32.load offset=12 (local.get $info)) (i32.const 0))
      (then
        (local.set $groups (call $find_claim (local.get $q) (local.get $n) (i32.load offset=8 (local.get $info)) (i32.load offset=12 (local.get $info))))
        (if (i32.and (i32.ne (local.get $groups) (i32.const 0)) (i32.ne (i32.load8_u (local.get $groups)) (i32.const 0)))
          (then
            (if (i32.ne (i32.load8_u (local.get $groups)) (i32.const 4))
              (then (call $error (i32.const 714) (i32.const 0) (local.get $ident)) (return)))
            (local.set $k (i32.load offset=1 (local.get $groups)))
            (local.set $v (i32.add (local.get $groups) (i32.const 5)))
            (block $done
              (loop $next
                (br_if $done (i32.eqz (local.get $k)))
                (if (i32.ne (i32.load8_u (local.get $v)) (i32.const 1))
                  (then (call $error (i32.const 714) (i32.const 0) (local.get $ident)) (return)))
                (local.set $list (call $name_find (i32.load offset=16 (local.get $info)) (i32.load offset=20 (local.get $info))
                  (i32.add (local.get $v) (i32.const 5)) (i32.load offset=1 (local.get $v))))
                (if (i32.ge_s (local.get $list) (i32.const 0))
                  (then
                    ;; alias group list: [count, g...]
                    (local.set $g (i32.load (local.get $list)))
                    (block $gdone
                      (loop $gnext
                        (br_if $gdone (i32.eqz (local.get $g)))
                        (call $add_group (i32.load (i32.add (local.get $list) (i32.shl (local.get $g) (i32.const 2)))))
                        (local.set $g (i32.sub (local.get $g) (i32.const 1)))
                        (br $gnext)))))
                (local.set $v (i32.add (local.get $v) (call $val_size (local.get $v))))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $next)))))))
    ;; principal id = "user:" + claim value, in the principal buffer.
    (local.set $k (i32.load offset=1 (local.get $user)))
    (call $copy (global.get $S_pidbuf) (global.get $S_user_prefix) (i32.const 5))
    (call $copy (i32.add (global.get $S_pidbuf) (i32.const 5)) (i32.add (local.get $user) (i32.const 5)) (local.get $k))
    (global.set $pid_ptr (global.get $S_pidbuf))
    (global.set $pid_len (i32.add (local.get $k) (i32.const 5))))

  ;; The first claim (in encoded order) named (p, l): the address of its value, or 0.
  (func $find_claim (param $q i32) (param $n i32) (param $p i32) (param $l i32) (result i32)
    (local $name i32) (local $v i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $name (local.get $q))
        (local.set $v (i32.add (local.get $q) (i32.add (i32.const 4) (i32.load (local.get $q)))))
        (if (i32.eq (i32.load (local.get $name)) (local.get $l))
          (then (if (call $eq_bytes (i32.add (local.get $name) (i32.const 4)) (local.get $p) (local.get $l))
            (then (return (local.get $v))))))
        (local.set $q (i32.add (local.get $v) (call $val_size (local.get $v))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func $starts_with (param $p i32) (param $l i32) (param $pre i32) (param $pl i32) (result i32)
    (if (i32.lt_u (local.get $l) (local.get $pl)) (then (return (i32.const 0))))
    (call $eq_bytes (local.get $p) (local.get $pre) (local.get $pl)))

  ;; `user:NAME` or `service:NAME` with a non-empty NAME.
  (func $check_principal_id
    (if (i32.and (call $starts_with (global.get $pid_ptr) (global.get $pid_len) (global.get $S_user_prefix) (i32.const 5))
                 (i32.gt_u (global.get $pid_len) (i32.const 5)))
      (then (return)))
    (if (i32.and (call $starts_with (global.get $pid_ptr) (global.get $pid_len) (global.get $S_service_prefix) (i32.const 8))
                 (i32.gt_u (global.get $pid_len) (i32.const 8)))
      (then (return)))
    (call $error (i32.const 711) (i32.const 0) (i32.const 0)))

  ;; ---- resource path ------------------------------------------------------------------
  ;; Byte classes are read from $T_chars (256 bytes): 1 starts a type name, 2 continues it,
  ;; 4 is an unquoted id byte.
  (func $hex (param $c i32) (result i32)
    (if (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10)) (then (return (i32.sub (local.get $c) (i32.const 48)))))
    (local.set $c (i32.or (local.get $c) (i32.const 32)))
    (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 6)) (then (return (i32.sub (local.get $c) (i32.const 87)))))
    (i32.const -1))

  ;; Appends the UTF-8 encoding of scalar $cp to the id buffer.
  (func $put_utf8 (param $cp i32)
    (local $p i32)
    (local.set $p (global.get $idfree))
    (if (i32.lt_u (local.get $cp) (i32.const 0x80))
      (then (i32.store8 (local.get $p) (local.get $cp))
            (global.set $idfree (i32.add (local.get $p) (i32.const 1))) (return)))
    (if (i32.lt_u (local.get $cp) (i32.const 0x800))
      (then (i32.store8 (local.get $p) (i32.or (i32.const 0xC0) (i32.shr_u (local.get $cp) (i32.const 6))))
            (i32.store8 offset=1 (local.get $p) (i32.or (i32.const 0x80) (i32.and (local.get $cp) (i32.const 0x3F))))
            (global.set $idfree (i32.add (local.get $p) (i32.const 2))) (return)))
    (if (i32.lt_u (local.get $cp) (i32.const 0x10000))
      (then (i32.store8 (local.get $p) (i32.or (i32.const 0xE0) (i32.shr_u (local.get $cp) (i32.const 12))))
            (i32.store8 offset=1 (local.get $p) (i32.or (i32.const 0x80) (i32.and (i32.shr_u (local.get $cp) (i32.const 6)) (i32.const 0x3F))))
            (i32.store8 offset=2 (local.get $p) (i32.or (i32.const 0x80) (i32.and (local.get $cp) (i32.const 0x3F))))
            (global.set $idfree (i32.add (local.get $p) (i32.const 3))) (return)))
    (i32.store8 (local.get $p) (i32.or (i32.const 0xF0) (i32.shr_u (local.get $cp) (i32.const 18))))
    (i32.store8 offset=1 (local.get $p) (i32.or (i32.const 0x80) (i32.and (i32.shr_u (local.get $cp) (i32.const 12)) (i32.const 0x3F))))
    (i32.store8 offset=2 (local.get $p) (i32.or (i32.const 0x80) (i32.and (i32.shr_u (local.get $cp) (i32.const 6)) (i32.const 0x3F))))
    (i32.store8 offset=3 (local.get $p) (i32.or (i32.const 0x80) (i32.and (local.get $cp) (i32.const 0x3F))))
    (global.set $idfree (i32.add (local.get $p) (i32.const 4))))

  ;; Splits the path (p, l) into segments at $S_segs: 16-byte entries [type_ptr, type_len,
  ;; id_ptr, id_len]; a bare tail sets $bare. Returns 0, or 1 on a syntax error (E0721).
  (func $split_path (param $p i32) (param $l i32) (result i32)
    (local $i i32) (local $c i32) (local $start i32) (local $seg i32) (local $idstart i32)
    (local $cp i32) (local $h i32) (local $digits i32)
    (if (i32.eqz (local.get $l)) (then (return (i32.const 1))))
    (block $exit
      (loop $segment
        (if (i32.ge_u (global.get $nseg) (global.get $S_max_segs)) (then (return (i32.const 1))))
        (local.set $seg (i32.add (global.get $S_segs) (i32.shl (global.get $nseg) (i32.const 4))))
        (local.set $start (local.get $i))
        (if (i32.or (i32.ge_u (local.get $i) (local.get $l))
                    (i32.eqz (i32.and (i32.load8_u (i32.add (global.get $T_chars) (i32.load8_u (i32.add (local.get $p) (local.get $i))))) (i32.const 1))))
          (then (return (i32.const 1))))
        (block $tdone
          (loop $tnext
            (br_if $tdone (i32.ge_u (local.get $i) (local.get $l)))
            (br_if $tdone (i32.eqz (i32.and (i32.load8_u (i32.add (global.get $T_chars) (i32.load8_u (i32.add (local.get $p) (local.get $i))))) (i32.const 2))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tnext)))
        (i32.store (local.get $seg) (i32.add (local.get $p) (local.get $start)))
        (i32.store offset=4 (local.get $seg) (i32.sub (local.get $i) (local.get $start)))
        (if (i32.ge_u (local.get $i) (local.get $l))
          (then (global.set $bare (i32.const 1)) (br $exit)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 58)) (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $idstart (global.get $idfree))
        (if (i32.and (i32.lt_u (local.get $i) (local.get $l))
                     (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 34)))
          (then
            ;; quoted id with escapes \" \\ \n \t \u{HEX}
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (block $qdone
              (loop $qnext
                (if (i32.ge_u (local.get $i) (local.get $l)) (then (return (i32.const 1))))
                (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $qdone (i32.eq (local.get $c) (i32.const 34)))
                (if (i32.eq (local.get $c) (i32.const 92))
                  (then
                    (if (i32.ge_u (local.get $i) (local.get $l)) (then (return (i32.const 1))))
                    (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (block $esc
                      (if (i32.eq (local.get $c) (i32.const 110)) (then (local.set $c (i32.const 10)) (br $esc)))
                      (if (i32.eq (local.get $c) (i32.const 116)) (then (local.set $c (i32.const 9)) (br $esc)))
                      (br_if $esc (i32.eq (local.get $c) (i32.const 34)))
                      (br_if $esc (i32.eq (local.get $c) (i32.const 92)))
                      (if (i32.ne (local.get $c) (i32.const 117)) (then (return (i32.const 1))))
                      ;; \u{HEX}: 1 to 6 hex digits naming a unicode scalar value
                      (if (i32.or (i32.ge_u (local.get $i) (local.get $l))
                                  (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 123)))
                        (then (return (i32.const 1))))
                      (local.set $i (i32.add (local.get $i) (i32.const 1)))
                      (local.set $cp (i32.const 0))
                      (local.set $digits (i32.const 0))
                      (block $hdone
                        (loop $hnext
                          (if (i32.ge_u (local.get $i) (local.get $l)) (then (return (i32.const 1))))
                          (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
                          (local.set $i (i32.add (local.get $i) (i32.const 1)))
                          (br_if $hdone (i32.eq (local.get $c) (i32.const 125)))
                          (local.set $h (call $hex (local.get $c)))
                          (if (i32.or (i32.lt_s (local.get $h) (i32.const 0)) (i32.ge_u (local.get $digits) (i32.const 6)))
                            (then (return (i32.const 1))))
                          (local.set $cp (i32.or (i32.shl (local.get $cp) (i32.const 4)) (local.get $h)))
                          (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
                          (br $hnext)))
                      (if (i32.or (i32.eqz (local.get $digits))
                            (i32.or (i32.gt_u (local.get $cp) (i32.const 0x10FFFF))
                                    (i32.lt_u (i32.sub (local.get $cp) (i32.const 0xD800)) (i32.const 0x800))))
                        (then (return (i32.const 1))))
                      (call $put_utf8 (local.get $cp))
                      (br $qnext))))
                (i32.store8 (global.get $idfree) (local.get $c))
                (global.set $idfree (i32.add (global.get $idfree) (i32.const 1)))
                (br $qnext)))
            (i32.store offset=8 (local.get $seg) (local.get $idstart))
            (i32.store offset=12 (local.get $seg) (i32.sub (global.get $idfree) (local.get $idstart))))
          (else
            (local.set $start (local.get $i))
            (block $idone
              (loop $inext
                (br_if $idone (i32.ge_u (local.get $i) (local.get $l)))
                (br_if $idone (i32.eqz (i32.and (i32.load8_u (i32.add (global.get $T_chars) (i32.load8_u (i32.add (local.get $p) (local.get $i))))) (i32.const 4))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $inext)))
            (if (i32.eq (local.get $i) (local.get $start)) (then (return (i32.const 1))))
            (i32.store offset=8 (local.get $seg) (i32.add (local.get $p) (local.get $start)))
            (i32.store offset=12 (local.get $seg) (i32.sub (local.get $i) (local.get $start)))))
        (global.set $nseg (i32.add (global.get $nseg) (i32.const 1)))
        (br_if $exit (i32.ge_u (local.get $i) (local.get $l)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 47)) (then (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $segment)))
    (i32.const 0))

  ;; Resolves the segments' types and checks the tree; sets $target. Segment types are
  ;; stored over type_ptr (offset 0) once resolved.
  (func $resolve_path
    (local $i i32) (local $n i32) (local $seg i32) (local $ty i32) (local $prev i32)
    (local.set $n (i32.add (global.get $nseg) (global.get $bare)))
    (local.set $prev (i32.const -1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $seg (i32.add (global.get $S_segs) (i32.shl (local.get $i) (i32.const 4))))
        (local.set $ty (call $name_find (global.get $T_types) (global.get $T_mtypes)
          (i32.load (local.get $seg)) (i32.load offset=4 (local.get $seg))))
        (if (i32.lt_s (local.get $ty) (i32.const 0))
          (then (call $error (i32.const 722) (local.get $i) (i32.const 0)) (return)))
        (if (i32.ne (i32.sub (i32.load (i32.add (global.get $T_type_parent) (i32.shl (local.get $ty) (i32.const 2)))) (i32.const 1))
                    (local.get $prev))
          (then (call $error (i32.const 723) (local.get $i) (local.get $ty)) (return)))
        (i32.store (local.get $seg) (local.get $ty))
        (local.set $prev (local.get $ty))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (global.set $target (local.get $prev)))

  ;; ---- attributes ---------------------------------------------------------------------
  ;; Attribute tables are name tables whose value is slot | (type code << 16). Records the
  ;; value of each declared attribute; a wrong type is E0741 (detail: entity, ordinal).
  (func $read_attrs
    (local $n i32) (local $i i32) (local $entity i32) (local $name i32) (local $v i32) (local $e i32)
    (local $tab i32) (local $cnt i32)
    (local.set $n (call $rd_u32))
    (block $done
      (loop $next
        (br_if $done (i32.or (global.get $bad) (i32.ge_u (local.get $i) (local.get $n))))
        (local.set $entity (call $rd_u8))
        (local.set $name (call $rd_str))
        (local.set $v (call $rd_value (i32.const 0)))
        (br_if $done (global.get $bad))
        (if (i32.gt_u (local.get $entity) (i32.const 2)) (then (global.set $bad (i32.const 1)) (br $done)))
        ;; No table (a resource attribute while the path did not resolve): nothing is found.
        ;; $tab is reset too: the last entity's table probed with mask 0 never ended when its
        ;; slot 0 held another name.
        (local.set $tab (i32.const 0))
        (local.set $cnt (i32.const 0))
        (if (i32.eqz (local.get $entity))
          (then (local.set $tab (global.get $T_principal_attrs)) (local.set $cnt (global.get $T_mprincipal_attrs))))
        (if (i32.eq (local.get $entity) (i32.const 2))
          (then (local.set $tab (global.get $T_context_attrs)) (local.set $cnt (global.get $T_mcontext_attrs))))
        (if (i32.and (i32.eq (local.get $entity) (i32.const 1)) (i32.ge_s (global.get $target) (i32.const 0)))
          (then
            (local.set $tab (i32.load (i32.add (global.get $T_type_attrs) (i32.shl (global.get $target) (i32.const 3)))))
            (local.set $cnt (i32.load offset=4 (i32.add (global.get $T_type_attrs) (i32.shl (global.get $target) (i32.const 3)))))))
        (local.set $e (i32.const -1))
        (if (local.get $tab)
          (then (local.set $e (call $name_find (local.get $tab) (local.get $cnt) (i32.add (local.get $name) (i32.const 4)) (i32.load (local.get $name))))))
        (if (i32.and (i32.ge_s (local.get $e) (i32.const 0)) (i32.ne (i32.load8_u (local.get $v)) (i32.const 0)))
          (then
            (if (call $type_ok (local.get $v) (i32.shr_u (local.get $e) (i32.const 16)))
              (then (i32.store (i32.add (global.get $S_attrs) (i32.shl (i32.and (local.get $e) (i32.const 0xFFFF)) (i32.const 2))) (local.get $v)))
              (else (call $error (i32.const 741) (local.get $entity) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  ;; ---- the decision -------------------------------------------------------------------
  ;; Returns 1 allow, 0 deny, or -code for an invalid request (-705 malformed encoding,
  ;; -706 oversize). Records (see docs/wasm-abi.md) explain it.
  (func (export "rbac_decide") (param $len i32) (result i32)
    (local $s i32) (local $action_s i32) (local $path_s i32) (local $i i32) (local $node i32)
    (local $seg i32) (local $child i32) (local $ok i32) (local $t i32)
    (global.set $out_n (i32.const 0))
    (global.set $overflow (i32.const 0))
    (global.set $err (i32.const 0))
    (global.set $rule (i32.const -1))
    (global.set $bad (i32.const 0))
    (global.set $nsubj (i32.const 0))
    (global.set $nseg (i32.const 0))
    (global.set $bare (i32.const 0))
    (global.set $target (i32.const -1))
    (global.set $action (i32.const -1))
    (global.set $rid_val (i32.const 0))
    (global.set $idfree (global.get $S_idbuf))
    (call $next_gen)
    (global.set $pid_ptr (i32.const 0))
    (global.set $pid_len (i32.const 0))
    (if (i32.or (i32.lt_s (local.get $len) (i32.const 0)) (i32.gt_u (local.get $len) (global.get $S_input_cap)))
      (then (call $error (i32.const 706) (i32.const 0) (i32.const 0)) (return (i32.const -706))))
    ;; clear attribute slots
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $T_nslots)))
        (i32.store (i32.add (global.get $S_attrs) (i32.shl (local.get $i) (i32.const 2))) (i32.const 0))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (global.set $pos (global.get $S_input))
    (global.set $end (i32.add (global.get $S_input) (local.get $len)))
    (if (i32.ne (call $rd_u32) (i32.const 0x31514252)) (then (global.set $bad (i32.const 1))))
    (if (i32.eqz (global.get $bad)) (then (call $read_principal)))
    (local.set $action_s (call $rd_str))
    (local.set $path_s (call $rd_str))
    (if (global.get $bad) (then (return (call $malformed))))
    ;; Path and action are checked even when the principal is invalid, so every error of
    ;; the request is reported (in the native evaluator's order); $target is set only for
    ;; a fully valid path.
    (if (call $split_path (i32.add (local.get $path_s) (i32.const 4)) (i32.load (local.get $path_s)))
      (then (call $error (i32.const 721) (i32.const 0) (i32.const 0)))
      (else (call $resolve_path)))
    (if (i32.ge_s (global.get $target) (i32.const 0))
      (then
        (global.set $action (call $name_find (global.get $T_actions) (global.get $T_mactions)
          (i32.add (local.get $action_s) (i32.const 4)) (i32.load (local.get $action_s))))
        ;; (no short-circuit in wasm: test the id before looking it up)
        (if (i32.lt_s (global.get $action) (i32.const 0))
          (then (call $error (i32.const 731) (global.get $target) (i32.const 0)))
          (else (if (i32.eqz (call $declares (global.get $target) (global.get $action)))
            (then (call $error (i32.const 731) (global.get $target) (i32.const 0))))))))
    (call $read_attrs)
    (if (global.get $bad) (then (return (call $malformed))))
    (if (i32.ne (global.get $pos) (global.get $end)) (then (return (call $malformed))))
    (if (global.get $err) (then (return (i32.sub (i32.const 0) (global.get $err)))))

    ;; Subjects: the principal id (when assigned anything), groups (added while reading), everyone.
    (local.set $s (call $name_find (global.get $T_principals) (global.get $T_mprincipals) (global.get $pid_ptr) (global.get $pid_len)))
    (if (i32.ge_s (local.get $s) (i32.const 0)) (then (call $add_subject (local.get $s) (i32.const 0))))
    (call $add_subject (i32.const 0) (i32.const 1))
    ;; principal.id and resource.id as values
    (global.set $pid_val (call $make_str (global.get $S_pidval) (global.get $pid_ptr) (global.get $pid_len)))
    (if (i32.and (i32.eqz (global.get $bare)) (i32.gt_u (global.get $nseg) (i32.const 0)))
      (then
        (local.set $seg (i32.add (global.get $S_segs) (i32.shl (i32.sub (global.get $nseg) (i32.const 1)) (i32.const 4))))
        (global.set $rid_val (call $make_str (global.get $S_ridval) (i32.load offset=8 (local.get $seg)) (i32.load offset=12 (local.get $seg))))))
    ;; Scopes: walk the tree of assigned paths along the request path.
    (i32.store (global.get $S_nodes) (i32.const 0))
    (call $mark_node (i32.const 0) (i32.const 0))
    (global.set $nnodes (i32.const 1))
    (local.set $node (i32.const 0))
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $nseg)))
        (local.set $seg (i32.add (global.get $S_segs) (i32.shl (local.get $i) (i32.const 4))))
        (local.set $child (call $child_find (local.get $node) (i32.load (local.get $seg))
          (i32.load offset=8 (local.get $seg)) (i32.load offset=12 (local.get $seg))))
        (br_if $done (i32.lt_s (local.get $child) (i32.const 0)))
        (i32.store (i32.add (global.get $S_nodes) (i32.shl (global.get $nnodes) (i32.const 2))) (local.get $child))
        (call $mark_node (local.get $child) (global.get $nnodes))
        (global.set $nnodes (i32.add (global.get $nnodes) (i32.const 1)))
        (local.set $node (local.get $child))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (call $exclusive) (then (return (i32.const 0))))
    (call $rules))

  ;; A new stamp for this decision's groups ($S_gseen), exclusive sets ($S_xseen) and scope
  ;; nodes ($S_nodemark). Stamps of earlier decisions differ from it, so nothing needs
  ;; clearing, except when the counter wraps (after 2^32 decisions): stamps still holding 0 or
  ;; old values would then look current, so the arrays are cleared and counting restarts at 1.
  (func $next_gen
    (global.set $gen (i32.add (global.get $gen) (i32.const 1)))
    (if (i32.eqz (global.get $gen))
      (then
        (call $zero (global.get $S_gseen) (i32.shl (global.get $T_ngroups) (i32.const 2)))
        (call $zero (global.get $S_xseen) (i32.mul (global.get $T_nsets) (i32.const 12)))
        (call $zero (global.get $S_nodemark) (i32.shl (global.get $T_nnodes) (i32.const 3)))
        (global.set $gen (i32.const 1)))))

  ;; Marks a scope node of this decision with its index in $S_nodes.
  (func $mark_node (param $node i32) (param $ni i32)
    (local $m i32)
    (local.set $m (i32.add (global.get $S_nodemark) (i32.shl (local.get $node) (i32.const 3))))
    (i32.store (local.get $m) (global.get $gen))
    (i32.store offset=4 (local.get $m) (local.get $ni)))

  (func $zero (param $p i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (i32.store8 (i32.add (local.get $p) (local.get $n)) (i32.const 0))
        (br $next))))

  (func $malformed (result i32)
    (global.set $out_n (i32.const 0))
    (global.set $err (i32.const 705))
    (call $emit (i32.const 5) (i32.const 705) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (i32.const -705))

  (func $declares (param $ty i32) (param $a i32) (result i32)
    (i32.and (i32.shr_u
      (i32.load (i32.add (global.get $T_type_actions)
        (i32.shl (i32.add (i32.mul (local.get $ty) (global.get $T_act_words)) (i32.shr_u (local.get $a) (i32.const 5))) (i32.const 2))))
      (i32.and (local.get $a) (i32.const 31))) (i32.const 1)))

  ;; Calls $held_row for every grant row (subject, scope node) of this request's subjects at
  ;; its scope nodes: mode 0 marks exclusive memberships, 1 reports clashes, 2 applies rules.
  ;; A subject's rows [node, roles_ptr, roles_len] are sorted by node; the subject index
  ;; $T_subject_rows gives [first row, row count].
  (func $each_grant (param $mode i32)
    (local $si i32) (local $ni i32) (local $sr i32) (local $rows i32) (local $n i32) (local $node i32)
    (local $row i32) (local $lo i32) (local $hi i32) (local $mid i32) (local $mark i32)
    (block $sdone
      (loop $snext
        (br_if $sdone (i32.ge_u (local.get $si) (global.get $nsubj)))
        (local.set $sr (i32.add (global.get $T_subject_rows)
          (i32.shl (i32.load (i32.add (global.get $S_subjects) (i32.shl (local.get $si) (i32.const 3)))) (i32.const 3))))
        (local.set $rows (i32.add (global.get $T_rows) (i32.mul (i32.load (local.get $sr)) (i32.const 12))))
        (local.set $n (i32.load offset=4 (local.get $sr)))
        (if (i32.le_u (local.get $n) (i32.const 32))
          (then
            ;; A few rows: keep those whose node is one of the request's scope nodes, which
            ;; carry this decision's stamp in $S_nodemark ([stamp, scope index] per node).
            (local.set $row (local.get $rows))
            (block $rdone
              (loop $rnext
                (br_if $rdone (i32.eqz (local.get $n)))
                (local.set $mark (i32.add (global.get $S_nodemark) (i32.shl (i32.load (local.get $row)) (i32.const 3))))
                (if (i32.eq (i32.load (local.get $mark)) (global.get $gen))
                  (then (call $held_row (local.get $row) (local.get $si) (i32.load offset=4 (local.get $mark)) (local.get $mode))))
                (local.set $row (i32.add (local.get $row) (i32.const 12)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $rnext))))
          (else
            ;; Many rows: binary search for each scope node.
            (local.set $ni (i32.const 0))
            (block $ndone
              (loop $nnext
                (br_if $ndone (i32.ge_u (local.get $ni) (global.get $nnodes)))
                (local.set $node (i32.load (i32.add (global.get $S_nodes) (i32.shl (local.get $ni) (i32.const 2)))))
                (local.set $lo (i32.const 0))
                (local.set $hi (local.get $n))
                (block $bdone
                  (loop $bnext
                    (br_if $bdone (i32.ge_u (local.get $lo) (local.get $hi)))
                    (local.set $mid (i32.shr_u (i32.add (local.get $lo) (local.get $hi)) (i32.const 1)))
                    (local.set $row (i32.add (local.get $rows) (i32.mul (local.get $mid) (i32.const 12))))
                    (if (i32.eq (i32.load (local.get $row)) (local.get $node))
                      (then (call $held_row (local.get $row) (local.get $si) (local.get $ni) (local.get $mode)) (br $bdone)))
                    (if (i32.lt_u (i32.load (local.get $row)) (local.get $node))
                      (then (local.set $lo (i32.add (local.get $mid) (i32.const 1))))
                      (else (local.set $hi (local.get $mid))))
                    (br $bnext)))
                (local.set $ni (i32.add (local.get $ni) (i32.const 1)))
                (br $nnext)))))
        (local.set $si (i32.add (local.get $si) (i32.const 1)))
        (br $snext))))

  ;; The roles of one grant row, held through subject index si at scope index ni.
  (func $held_row (param $row i32) (param $si i32) (param $ni i32) (param $mode i32)
    (local $rp i32) (local $rn i32)
    (local.set $rp (i32.load offset=4 (local.get $row)))
    (local.set $rn (i32.load offset=8 (local.get $row)))
    (block $rdone
      (loop $rnext
        (br_if $rdone (i32.eqz (local.get $rn)))
        (if (i32.eq (local.get $mode) (i32.const 2))
          (then (call $apply_role (i32.load (local.get $rp)) (local.get $si) (local.get $ni)))
          (else (call $mark_exclusive (i32.load (local.get $rp)) (local.get $mode))))
        (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
        (local.set $rn (i32.sub (local.get $rn) (i32.const 1)))
        (br $rnext))))

  ;; Exclusive memberships of a role's closure: [count, (set, member)...] at role_excl[role].
  ;; $S_xseen holds 12 bytes per set: [decision stamp, first member seen, clash flag].
  (func $mark_exclusive (param $r i32) (param $mode i32)
    (local $p i32) (local $n i32) (local $set i32) (local $m i32) (local $slot i32)
    (local.set $p (i32.load (i32.add (global.get $T_role_excl) (i32.shl (local.get $r) (i32.const 2)))))
    (local.set $n (i32.load (local.get $p)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $set (i32.load offset=4 (local.get $p)))
        (local.set $m (i32.load offset=8 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $slot (i32.add (global.get $S_xseen) (i32.mul (local.get $set) (i32.const 12))))
        (if (i32.eqz (local.get $mode))
          (then
            (if (i32.ne (i32.load (local.get $slot)) (global.get $gen))
              (then (i32.store (local.get $slot) (global.get $gen))
                    (i32.store offset=4 (local.get $slot) (local.get $m))
                    (i32.store offset=8 (local.get $slot) (i32.const 0)))
              (else (if (i32.ne (i32.load offset=4 (local.get $slot)) (local.get $m))
                (then (i32.store offset=8 (local.get $slot) (i32.const 1)))))))
          (else
            (if (i32.load offset=8 (local.get $slot))
              (then
                (global.set $clash (i32.const 1))
                (call $emit (i32.const 4) (local.get $set) (local.get $m) (i32.const 0) (i32.const 0) (i32.const 0))))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  ;; Separation of duty: 1 when two roles of one exclusive set are held (records kind 4).
  (func $exclusive (result i32)
    (global.set $clash (i32.const 0))
    (if (i32.eqz (global.get $T_nsets)) (then (return (i32.const 0))))
    (call $each_grant (i32.const 0))
    (call $each_grant (i32.const 1))
    (global.get $clash))

  ;; Applies a held role's rules on (target, action): records kinds 1 allow, 2 deny, 3 skipped.
  (func $apply_role (param $r i32) (param $si i32) (param $ni i32)
    (local $e i32) (local $p i32) (local $n i32) (local $rule i32) (local $info i32) (local $cond i32)
    (local $out i32) (local $subject i32) (local $node i32) (local $via i32)
    (local.set $e (call $role_find (local.get $r) (global.get $target) (global.get $action)))
    (if (i32.eqz (local.get $e)) (then (return)))
    (local.set $p (i32.load offset=12 (local.get $e)))
    (local.set $n (i32.load offset=16 (local.get $e)))
    (local.set $subject (i32.load offset=4 (i32.add (global.get $S_subjects) (i32.shl (local.get $si) (i32.const 3)))))
    (local.set $node (i32.load (i32.add (global.get $S_nodes) (i32.shl (local.get $ni) (i32.const 2)))))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $rule (i32.load (local.get $p)))
        (local.set $via (i32.load offset=4 (local.get $p)))
        ;; rule info: [effect (0 allow, 1 deny), condition index + 1 (0 none)]
        (local.set $info (i32.add (global.get $T_rules) (i32.shl (local.get $rule) (i32.const 3))))
        (local.set $cond (i32.load offset=4 (local.get $info)))
        (global.set $missing (i32.const 0))
        (local.set $out (i32.const 1))
        (if (local.get $cond)
          (then (local.set $out (call_indirect (type $cond_t) (i32.sub (local.get $cond) (i32.const 1))))))
        ;; out: 0 false, 1 true, 2 cannot be evaluated ($missing = slot)
        ;; Only the records of the outcome are kept (a deny's deny records, an allow's allow
        ;; records, `no_rule`'s skipped ones): the first deny drops every record before it and
        ;; the first allow the skipped ones, so that records the decision does not report can
        ;; never fill the output and crowd out those it does.
        (if (i32.load (local.get $info))
          (then (if (local.get $out)
            (then
              (if (i32.eqz (global.get $denies))
                (then (global.set $out_n (i32.const 0)) (global.set $overflow (i32.const 0))))
              (call $emit (i32.const 2) (local.get $rule) (local.get $via) (local.get $subject) (local.get $node)
                (select (i32.add (global.get $missing) (i32.const 1)) (i32.const 0) (i32.eq (local.get $out) (i32.const 2))))
              (global.set $denies (i32.add (global.get $denies) (i32.const 1)))
              (if (i32.or (i32.lt_s (global.get $min_deny) (i32.const 0)) (i32.lt_s (local.get $rule) (global.get $min_deny)))
                (then (global.set $min_deny (local.get $rule)))))))
          (else
            (if (i32.and (i32.eq (local.get $out) (i32.const 1)) (i32.eqz (global.get $denies)))
              (then
                (if (i32.eqz (global.get $allows))
                  (then (global.set $out_n (i32.const 0)) (global.set $overflow (i32.const 0))))
                (call $emit (i32.const 1) (local.get $rule) (local.get $via) (local.get $subject) (local.get $node) (i32.const 0))
                (global.set $allows (i32.add (global.get $allows) (i32.const 1)))
                (if (i32.or (i32.lt_s (global.get $min_allow) (i32.const 0)) (i32.lt_s (local.get $rule) (global.get $min_allow)))
                  (then (global.set $min_allow (local.get $rule))))))
            (if (i32.and (i32.eq (local.get $out) (i32.const 2)) (i32.eqz (i32.or (global.get $denies) (global.get $allows))))
              (then (call $emit (i32.const 3) (local.get $rule) (local.get $via) (local.get $subject) (local.get $node)
                      (i32.add (global.get $missing) (i32.const 1)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  ;; Steps 6-8: deny beats allow; no allow is `no_rule`. The deciding rule is the first (in
  ;; source order) of the rules that decided.
  (func $rules (result i32)
    (global.set $denies (i32.const 0))
    (global.set $allows (i32.const 0))
    (global.set $min_deny (i32.const -1))
    (global.set $min_allow (i32.const -1))
    (call $each_grant (i32.const 2))
    (if (global.get $denies) (then (global.set $rule (global.get $min_deny)) (return (i32.const 0))))
    (if (global.get $allows) (then (global.set $rule (global.get $min_allow)) (return (i32.const 1))))
    (i32.const 0))
