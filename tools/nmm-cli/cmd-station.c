/* akm-nmm init, anchor (docs/akm-nmm.md): the station itself. */
#include "nmm-cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/hex.h"
#include "shared/tokens.h"

/* ---- init ---- */

typedef struct init_opts {
	const char *station_id, *site, *location, *anchor_out;
} init_opts;

static int run_init(const nmm_cli *c, const void *opts)
{
	const init_opts *o = opts;
	uint8_t id[AKM_FMT_ID_MAX];
	size_t id_len = 0;
	if (o->station_id) {
		if (akm_hex_decode(o->station_id, id, sizeof id, &id_len) != 0 || id_len == 0)
			return akm_report(AKM_RC_USAGE, "init", "--station-id must be 1 to %d bytes in hex", AKM_FMT_ID_MAX);
	} else {
		id_len = 16;
		randombytes_buf(id, id_len);
	}
	const char *site = o->site ? o->site : "", *location = o->location ? o->location : "";
	if (!nmm_cli_valid_text(site, NMM_SITE_MAX))
		return akm_report(AKM_RC_USAGE, "init",
		                  "--site must be at most %d bytes of text without control characters", NMM_SITE_MAX);
	if (!nmm_cli_valid_text(location, NMM_SITE_MAX))
		return akm_report(AKM_RC_USAGE, "init",
		                  "--location must be at most %d bytes of text without control characters", NMM_SITE_MAX);
	int code;
	if (o->anchor_out && (code = nmm_check_target("init", o->anchor_out)) != AKM_RC_OK)
		return code;
	nmm_station s;
	memset(&s, 0, sizeof s);
	if ((code = nmm_cli_token_open(c, &s.p)) != AKM_RC_OK)
		return code;
	s.open = true;
	char fp[65];
	code = nmm_station_init(&s, id, id_len, site, location, o->anchor_out, fp);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_kv_string(&j, "site", s.site);
		akm_json_kv_string(&j, "location", s.location);
		akm_json_kv_uint(&j, "created", s.created);
		akm_json_kv_string(&j, "anchor_fingerprint", fp);
		akm_json_kv_string(&j, "anchor_file", o->anchor_out);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		char hex[2 * AKM_FMT_ID_MAX + 1];
		akm_hex_encode(s.id, s.id_len, hex);
		printf("station ID: %s\nanchor fingerprint: %s\n", hex, fp);
		if (o->anchor_out)
			printf("anchor written to %s\n", o->anchor_out);
	}
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt init_options[] = {
	NMM_OPT(init_opts, station_id, "--station-id"),
	NMM_OPT(init_opts, site, "--site"),
	NMM_OPT(init_opts, location, "--location"),
	NMM_OPT(init_opts, anchor_out, "--anchor-out"),
};

const nmm_cli_cmd nmm_cmd_init = {
	"init", run_init, 0, 0,
	"init [--station-id HEX] [--site TEXT] [--location TEXT] [--anchor-out FILE]\n"
	"  Creates the station in the token: its signing key pair and its record\n"
	"  (station ID, site, location).  Prints the station ID and the anchor fingerprint.\n",
	NMM_OPTS(init_options), sizeof(init_opts),
};

/* ---- anchor ---- */

typedef struct anchor_opts {
	const char *out;
} anchor_opts;

static int run_anchor(const nmm_cli *c, const void *opts)
{
	const anchor_opts *o = opts;
	if (o->out == NULL)
		return akm_report(AKM_RC_USAGE, "anchor", "--out FILE is required");
	int code = nmm_check_target("anchor", o->out);
	if (code != AKM_RC_OK)
		return code;
	nmm_station s;
	if ((code = nmm_cli_station_open(c, &s)) != AKM_RC_OK)
		return code;
	char fp[65];
	code = nmm_station_write_anchor(&s, "anchor", o->out, fp);
	if (code == AKM_RC_OK && c->json) {
		akm_json j;
		akm_json_init(&j, stdout);
		akm_json_object_begin(&j);
		akm_json_kv_hex(&j, "station_id", s.id, s.id_len);
		akm_json_kv_string(&j, "anchor_fingerprint", fp);
		akm_json_kv_string(&j, "anchor_file", o->out);
		akm_json_object_end(&j);
		code = akm_json_finish(&j);
	} else if (code == AKM_RC_OK) {
		printf("anchor fingerprint: %s\nanchor written to %s\n", fp, o->out);
	}
	nmm_station_close(&s);
	return code;
}

static const nmm_cli_opt anchor_options[] = {
	NMM_OPT(anchor_opts, out, "--out"),
};

const nmm_cli_cmd nmm_cmd_anchor = {
	"anchor", run_anchor, 0, 0,
	"anchor --out FILE\n"
	"  Writes the station's trust anchor (station ID and public key) for nodes to pin.\n",
	NMM_OPTS(anchor_options), sizeof(anchor_opts),
};

/* ---- tokens ---- */

static int run_tokens(const nmm_cli *c, const void *opts)
{
	(void)opts;
	akm_p11_target t;
	char err[2200];
	if (akm_p11_resolve(&t, c->module, c->token, c->pin_file, "AKM_MODULE", "AKM_TOKEN", err, sizeof err) != 0)
		return akm_report(AKM_RC_USAGE, c->cmd, "%s", err);
	return akm_tokens_print(c->cmd, t.module, c->json);
}

const nmm_cli_cmd nmm_cmd_tokens = {
	"tokens", run_tokens, 0, 0,
	"tokens\n"
	"  Lists the tokens of the module (--module, or a token URI's module-path):\n"
	"  slot, label, serial, manufacturer, model, flags and a URI naming each.  No\n"
	"  PIN, and any module: the module check is for the station's own commands.\n",
	NMM_NO_OPTS,
};
