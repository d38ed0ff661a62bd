/* being written (issue 4) */
typedef int akm_placeholder_t;
