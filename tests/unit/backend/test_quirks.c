/* The backend's answers smoothed (src/backend/quirks.c): a decryption
 * whose tag or padding is wrong is CKR_ENCRYPTED_DATA_INVALID, whatever
 * SoftHSM2 says, every other answer passes unchanged; zero bytes of input
 * reach the backend through a pointer, never NULL. */
#include <check.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/internal.h"

/* The mechanisms whose failed check SoftHSM2 reports as CKR_GENERAL_ERROR
 * (backend.h: AES-GCM/CCM tags, *_CBC_PAD padding). */
static const CK_MECHANISM_TYPE checked[] = {CKM_AES_GCM, CKM_AES_CCM, CKM_AES_CBC_PAD, CKM_DES3_CBC_PAD};
/* Others: unpadded modes, key wrap, RSA, a vendor number. */
static const CK_MECHANISM_TYPE unchecked[] = {
	CKM_AES_CBC, CKM_AES_ECB, CKM_AES_CTR, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_DES3_CBC,
	CKM_DES_CBC_PAD, CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_VENDOR_DEFINED, 0,
};
static const CK_RV answers[] = {
	CKR_OK, CKR_GENERAL_ERROR, CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_BUFFER_TOO_SMALL,
	CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID, CKR_OPERATION_NOT_INITIALIZED, CKR_FUNCTION_FAILED,
	CKR_KEY_HANDLE_INVALID, CKR_HOST_MEMORY, CKR_VENDOR_DEFINED,
};
#define N(a) (sizeof a / sizeof a[0])

START_TEST(test_mapping_table)
{
	for (size_t m = 0; m < N(checked); m++)
		for (size_t r = 0; r < N(answers); r++) {
			CK_RV want = answers[r] == CKR_GENERAL_ERROR ? CKR_ENCRYPTED_DATA_INVALID : answers[r];
			ck_assert_msg(akm_backend_decrypt_result(checked[m], answers[r]) == want,
			              "mechanism 0x%lx, backend 0x%lx: 0x%lx, expected 0x%lx", checked[m], answers[r],
			              akm_backend_decrypt_result(checked[m], answers[r]), want);
		}
	for (size_t m = 0; m < N(unchecked); m++)
		for (size_t r = 0; r < N(answers); r++)
			ck_assert_msg(akm_backend_decrypt_result(unchecked[m], answers[r]) == answers[r],
			              "mechanism 0x%lx, backend 0x%lx: changed to 0x%lx", unchecked[m], answers[r],
			              akm_backend_decrypt_result(unchecked[m], answers[r]));
}
END_TEST

START_TEST(test_null_input_for_zero_bytes)
{
	/* SoftHSM2 refuses NULL even for zero bytes: it gets an empty buffer. */
	CK_BYTE *empty = akm_backend_input(NULL, 0);
	ck_assert_ptr_nonnull(empty);
	ck_assert_ptr_eq(empty, akm_backend_empty_input);
	/* Everything else passes as it is, a NULL with a length included (the
	 * caller's error, for the backend to answer). */
	CK_BYTE data[4];
	ck_assert_ptr_eq(akm_backend_input(data, 0), data);
	ck_assert_ptr_eq(akm_backend_input(data, sizeof data), data);
	ck_assert_ptr_null(akm_backend_input(NULL, 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backend-quirks");
	TCase *tc = tcase_create("quirks");
	tcase_add_test(tc, test_mapping_table);
	tcase_add_test(tc, test_null_input_for_zero_bytes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
