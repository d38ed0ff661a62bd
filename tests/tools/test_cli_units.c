/*
 * The pieces of the tools' conventions, without processes:
 *
 *   - akm_escape: C0 controls, DEL, C1 controls (as UTF-8 and as single
 *     bytes), bytes that are not UTF-8 and a backslash escaped; printable
 *     UTF-8 kept; a cut never splits an escape;
 *   - nmm_valid_name: no leading '.' or '-', the format's characters;
 *   - nmm_site_fields: "site=S; location=L" split (a location may hold
 *     "; location="), other text all site;
 *   - akm_p11_uri_extras: module-path and pin-source (a path, file:PATH,
 *     file://PATH) out of a token URI; another pin-source scheme refused;
 *   - nmm_audit_verification: which audit records say verified, failed or
 *     nothing, and the reason without the site metadata.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/p11.h"
#include "shared/report.h"
#include "station/station.h"

static const char *esc(const char *s, size_t len)
{
	static char out[256];
	return akm_escape(out, sizeof out, s, len);
}

START_TEST(test_escape)
{
	ck_assert_str_eq(esc("plain-name_1.2", (size_t)-1), "plain-name_1.2");
	ck_assert_str_eq(esc("a\x1b[2Jb", (size_t)-1), "a\\x1B[2Jb");
	ck_assert_str_eq(esc("bell\x07\x7f", (size_t)-1), "bell\\x07\\x7F");
	ck_assert_str_eq(esc("c1 \xc2\x9b" "31m", (size_t)-1), "c1 \\xC2\\x9B31m");
	ck_assert_str_eq(esc("raw \x9b" "31m", (size_t)-1), "raw \\x9B31m");
	ck_assert_str_eq(esc("Z\xc3\xbcrich \xe2\x82\xac", (size_t)-1), "Z\xc3\xbcrich \xe2\x82\xac");
	ck_assert_str_eq(esc("cut \xc3", (size_t)-1), "cut \\xC3");
	ck_assert_str_eq(esc("back\\slash", (size_t)-1), "back\\\\slash");
	ck_assert_str_eq(esc("nul\0x", 5), "nul\\x00x");
	/* A cut keeps whole escapes. */
	char small[8];
	ck_assert_str_eq(akm_escape(small, sizeof small, "ab\x1b" "cd", 5), "ab\\x1Bc");
	ck_assert_str_eq(akm_escape(small, 7, "ab\x1b" "cd", 5), "ab\\x1B");
	ck_assert_str_eq(akm_escape(small, 6, "ab\x1b" "cd", 5), "ab");
}
END_TEST

START_TEST(test_names)
{
	ck_assert(nmm_valid_name("node-A"));
	ck_assert(nmm_valid_name("a.b_c-1"));
	ck_assert(nmm_valid_name("_x"));
	ck_assert(!nmm_valid_name("."));
	ck_assert(!nmm_valid_name(".."));
	ck_assert(!nmm_valid_name(".hidden"));
	ck_assert(!nmm_valid_name("-x"));
	ck_assert(!nmm_valid_name("--help"));
	ck_assert(!nmm_valid_name("a b"));
	ck_assert(!nmm_valid_name("a\x1b"));
	ck_assert(!nmm_valid_name(""));
}
END_TEST

START_TEST(test_site_fields)
{
	char site[64], loc[64];
	nmm_site_fields("site=Plant 7; location=Hall B", site, sizeof site, loc, sizeof loc);
	ck_assert_str_eq(site, "Plant 7");
	ck_assert_str_eq(loc, "Hall B");
	nmm_site_fields("site=; location=", site, sizeof site, loc, sizeof loc);
	ck_assert_str_eq(site, "");
	ck_assert_str_eq(loc, "");
	nmm_site_fields("site=A; location=B; location=C", site, sizeof site, loc, sizeof loc);
	ck_assert_str_eq(site, "A; location=B");
	ck_assert_str_eq(loc, "C");
	nmm_site_fields("free text", site, sizeof site, loc, sizeof loc);
	ck_assert_str_eq(site, "free text");
	ck_assert_str_eq(loc, "");
}
END_TEST

START_TEST(test_uri_extras)
{
	char m[256], pin[256], err[256];
	ck_assert_int_eq(akm_p11_uri_extras("label", m, sizeof m, pin, sizeof pin, err, sizeof err), 0);
	ck_assert_str_eq(m, "");
	ck_assert_str_eq(pin, "");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a?module-path=/x/m.so&pin-source=/p/pin", m, sizeof m, pin,
	                                    sizeof pin, err, sizeof err), 0);
	ck_assert_str_eq(m, "/x/m.so");
	ck_assert_str_eq(pin, "/p/pin");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a?pin-source=file:/p/pin", m, sizeof m, pin, sizeof pin, err,
	                                    sizeof err), 0);
	ck_assert_str_eq(pin, "/p/pin");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a?pin-source=file:///p/pin", m, sizeof m, pin, sizeof pin,
	                                    err, sizeof err), 0);
	ck_assert_str_eq(pin, "/p/pin");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a?pin-source=file%3A%2Fp%2Fpin", m, sizeof m, pin,
	                                    sizeof pin, err, sizeof err), 0);
	ck_assert_str_eq(pin, "/p/pin");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a;serial=1", m, sizeof m, pin, sizeof pin, err, sizeof err), 0);
	ck_assert_str_eq(m, "");
	ck_assert_str_eq(pin, "");
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=a?pin-source=https://h/pin", m, sizeof m, pin, sizeof pin, err,
	                                    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "is not a file"));
	ck_assert_int_eq(akm_p11_uri_extras("pkcs11:token=%zz", m, sizeof m, pin, sizeof pin, err, sizeof err), -1);
}
END_TEST

static nmm_audit_rec rec(const char *action, CK_RV result, const char *detail)
{
	nmm_audit_rec r;
	memset(&r, 0, sizeof r);
	snprintf(r.action, sizeof r.action, "%s", action);
	snprintf(r.detail, sizeof r.detail, "%s", detail);
	r.action_len = strlen(r.action);
	r.detail_len = strlen(r.detail);
	r.result = result;
	r.time = 1000;
	r.seq = 7;
	return r;
}

START_TEST(test_verification_records)
{
	nmm_last_verify v;
	nmm_audit_rec r = rec("verify", CKR_OK, "site=S; location=L; node=n; se=abc; seq=1");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), 1);
	ck_assert(v.known && v.ok);
	ck_assert_str_eq(v.reason, "se=abc; seq=1");
	ck_assert_uint_eq(v.seq, 7);
	r = rec("verify", CKR_DATA_INVALID, "site=S; location=L; node=n; se=abc; failed=hardware value differs");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), -1);
	ck_assert(v.known && !v.ok);
	ck_assert_str_eq(v.reason, "CKR_DATA_INVALID: se=abc; failed=hardware value differs");
	r = rec("checkin", CKR_OK, "site=S; location=L; node=n; peer=1.2.3.4; verified; status=verified");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), 1);
	r = rec("checkin", CKR_OK, "site=S; location=L; node=n; peer=1.2.3.4");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), 0);
	r = rec("clone-signal", CKR_OK, "site=S; location=L; node=n; reason=address; peer=x");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), -1);
	ck_assert_str_eq(v.action, "clone-signal");
	r = rec("node-verify-failed", CKR_SIGNATURE_INVALID, "site=S; location=L; node=n; peer=x; op=checkin");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), -1);
	r = rec("export", CKR_OK, "site=S; location=L; node=n; seq=2");
	ck_assert_int_eq(nmm_audit_verification(&r, &v), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli-units");
	TCase *tc = tcase_create("units");
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_site_fields);
	tcase_add_test(tc, test_uri_extras);
	tcase_add_test(tc, test_verification_records);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
