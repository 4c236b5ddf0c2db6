/*  =========================================================================
    inventory_input - what every inventory handler checks first

    Who may do what (the roles of API.md, and the store rule for staff),
    the paging params, ids from params and bodies, and the replies the
    inventory adds to request_input's (out_of_stock, invalid_state). Every
    value in a request is untrusted and is converted here with the strict
    rules of runtime/request_input.
    =========================================================================
*/
#ifndef COMPTOIR_INVENTORY_INPUT_H
#define COMPTOIR_INVENTORY_INPUT_H

#include "envelope.h"
#include "pgdb.h"
#include "request_input.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  Largest quantity one request may move (and largest stock level).
#define INVENTORY_MAX_QUANTITY  1000000

//  Role lists for request_input_roles.
extern const char *const inventory_staff_roles [];     //  cashier, manager, admin
extern const char *const inventory_manager_roles [];   //  manager, admin
extern const char *const inventory_service_roles [];   //  service (other contexts)

//  A location as the access rule sees it.
typedef struct {
    int64_t id;
    char type [16];
    int64_t store_id;           //  0 when the location is not a store
    bool active;
} inventory_location_t;

//  Load a location. 1 found, 0 not found, -1 database failure.
int inventory_location_load (pgdb_t *db, int64_t id, inventory_location_t *location);

//  The active location of a store (the store_id staff tokens carry) into
//  location, as text (room for 24). NULL when found, else the reply: 404
//  not_found for a store with no active location, 503 when the database
//  failed. The point of sale sells there; click & collect reserves there.
envelope_t *inventory_store_location (pgdb_t *db, const envelope_t *request, int64_t store_id,
                                      char *location, size_t size);

//  Staff other than admin act only on their own store's location.
bool inventory_may_act_at (const envelope_t *request, const inventory_location_t *location);

//  Services: role "service" from one of the contexts that may hold stock
//  (consumer "order" or "sales"). NULL when allowed, else the 401/403 reply.
envelope_t *inventory_require_service (const envelope_t *request);

//  page and per_page params (defaults 1 and 20, per_page at most 100).
//  Problems go to details.
void inventory_read_page (const envelope_t *request, int64_t *page, int64_t *per_page, json_t *details);

//  An optional id param (positive integer string): 1 present, 0 absent,
//  -1 invalid (a detail was added).
int inventory_id_param (const envelope_t *request, const char *name, int64_t *value, json_t *details);

//  A required positive id param: NULL when it is there and valid (sets
//  *value), else the 400 reply naming it.
envelope_t *inventory_required_id (const envelope_t *request, const char *name, int64_t *value);

//  A required JSON integer field in [min, max]: 0 and *value, or -1 with a detail.
int inventory_required_integer (json_t *object, const char *field, int64_t min, int64_t max,
                                int64_t *value, json_t *details);

//  Most lines one request may carry (a reservation, a sale, a return).
#define INVENTORY_MAX_LINES  100

//  One line of goods.
typedef struct {
    int64_t product_id;
    int64_t quantity;
} inventory_line_t;

//  What inventory_read_lines does with a product named on two lines.
typedef enum {
    INVENTORY_REFUSE_REPEATS,       //  a detail "a product appears on two lines"
    INVENTORY_MERGE_REPEATS         //  one line, the quantities added
} inventory_repeats_t;

//  data.lines: 1..INVENTORY_MAX_LINES objects {product_id (positive),
//  quantity (1..max_quantity)} and nothing else. Fills lines (room for
//  INVENTORY_MAX_LINES) sorted by product_id, the order in which every
//  transaction takes stock rows so that two never deadlock, and returns
//  how many. Problems go to details, named after their line
//  ("lines[2].quantity").
size_t inventory_read_lines (json_t *data, inventory_line_t *lines, int64_t max_quantity,
                             inventory_repeats_t repeats, json_t *details);

//  Whether a stored array of {product_id, quantity} (sorted by product, as
//  every loader answers it) holds the same lines as an operation retried.
bool inventory_lines_equal (json_t *stored, const inventory_line_t *lines, size_t count);

//  A name (ids and references, which travel in logs and movement
//  references): 1..max of A-Z a-z 0-9 : _ . -. NULL when absent (with a
//  detail when required) or invalid (with a detail).
const char *inventory_name_field (json_t *data, const char *field, size_t max, bool required,
                                  json_t *details);

//  inventory_change (sql/inventory/0002_stock.sql) for one line in the open
//  transaction, on behalf of request's caller (NULL: "system"). 1 done,
//  0 refused (a level would go below zero), -1 the database failed.
int inventory_change_line (pgdb_t *db, const envelope_t *request, const char *location_id,
                           const inventory_line_t *line, int64_t on_hand_delta,
                           int64_t reserved_delta, const char *cause, const char *reference);

//  Append {product_id, requested, available} for a line that was short at
//  the location to short_lines (the details of out_of_stock). 0 or -1.
int inventory_short_line (pgdb_t *db, const char *location_id, const inventory_line_t *line,
                          json_t *short_lines);

//  A column as an integer.
json_int_t inventory_int (PGresult *res, int row, int column);

//  {"data": [...], "meta": {page, per_page, total}}, 200. Takes data.
envelope_t *inventory_page_reply (const envelope_t *request, json_t *data,
                                  int64_t page, int64_t per_page, json_int_t total);

//  409 replies.
envelope_t *inventory_out_of_stock (const envelope_t *request, json_t *details);
envelope_t *inventory_invalid_state (const envelope_t *request, const char *message);

//  500 when a JSON answer cannot be built.
envelope_t *inventory_no_answer (const envelope_t *request);

void inventory_input_test (bool verbose);

#endif
