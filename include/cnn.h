/* clang-format off */
/*
 * cnn.h - the public API of libcnn, a small neural-network framework driven
 * by YAML model descriptions.
 *
 * Conventions
 *  - Every type is opaque except the plain records declared here.
 *  - Every call that can fail returns a cnn_status (CNN_OK == 0) and fills the
 *    caller-allocated cnn_error record; the first error wins and no memory is
 *    allocated on the error path. The library never prints and never exits.
 *  - One prefix: cnn_<object>_<verb>.
 *
 * Typical use (what cnnrun does): build a model from its description with
 * overrides, train it, report any error as one line, free the model (the
 * clang-format off/on around this comment keep the example's layout).
 *
 *     cnn_error err;
 *     cnn_model *m;
 *     cnn_train_options opts = {.threads = 0};
 *     char buf[1200];
 *
 *     if (cnn_model_from_yaml(&m, path, overrides, n, &err) != CNN_OK ||
 *         cnn_model_train(m, &opts, &err) != CNN_OK)
 *             fprintf(stderr, "%s\n", cnn_error_string(&err, buf, sizeof buf));
 *     cnn_model_free(m);
 *
 * doc/api.md describes the API for embedders, with a complete program
 * (examples/classify.c).
 */
/* clang-format on */
#ifndef CNN_H
#define CNN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CNN_API marks the functions of this API: the only symbols libcnn.so
 * exports (the library is built with -fvisibility=hidden; everything else
 * is internal). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define CNN_API __attribute__((visibility("default")))
#else
#define CNN_API
#endif

#define CNN_VERSION_STRING "0.1.0"

/* The checkpoint format this library writes (and the newest it reads). */
#define CNN_CHECKPOINT_VERSION 3

/* Status codes. cnn_status_exit_code() maps them to the tools' exit codes:
 * 2 for problems with what the user wrote (configuration, usage, input data),
 * 1 for failures at run time (I/O, corrupt checkpoint, divergence, memory). */
typedef enum cnn_status {
	CNN_OK = 0,
	CNN_ERR_CONFIG, /* the YAML model description or an override is wrong */
	CNN_ERR_USAGE,  /* an API or command-line argument is wrong */
	CNN_ERR_DATA,   /* a data file (IDX, CSV, image) is malformed */
	CNN_ERR_IO,     /* a file could not be read or written */
	CNN_ERR_CORRUPT,    /* a checkpoint is damaged, truncated or of a newer
	                       version */
	CNN_ERR_NOMEM,      /* an allocation failed or a size is absurd */
	CNN_ERR_DIVERGED,   /* the loss or the weights became NaN or infinite */
	CNN_ERR_INTERRUPTED /* training was stopped by a callback */
} cnn_status;

/* The error record: fixed size, filled by the first failing call. line and
 * column are 1-based and 0 when they do not apply; path is the dotted field
 * (e.g. "dense.units", "training.epochs") or empty. */
typedef struct cnn_error {
	cnn_status status;
	int line;
	int column;
	char file[512];
	char path[128];
	char message[512];
} cnn_error;

/* Formats err as one line, "file:line:col: path: message" (parts that do not
 * apply are left out), into buf and returns buf. */
CNN_API const char *cnn_error_string(const cnn_error *err, char *buf,
                                     size_t size);

/* 0 for CNN_OK, 2 for configuration, usage and data errors, 1 otherwise. */
CNN_API int cnn_status_exit_code(cnn_status status);

/* The library's version, "MAJOR.MINOR.PATCH". */
CNN_API const char *cnn_version(void);

/* Caps the memory a model may need (its parameter arrays and the buffers for
 * one batch), in bytes; a model that needs more is refused when it is built
 * (CNN_ERR_CONFIG, naming the sizes) instead of failing or being killed
 * later. 0, the default, means the machine's physical memory or the
 * process's address-space limit (ulimit -v), whichever is smaller.
 * Process-wide: set it before building models. */
CNN_API void cnn_set_memory_limit(size_t bytes);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */

typedef struct cnn_model cnn_model;

/* Reads the YAML model description at path, applies the overrides (each
 * "dotted.key=value", e.g. "training.epochs=1" or "layers.0.filters=4"), then
 * validates it, builds the layer graph and initialises the weights from the
 * seed. Relative data and checkpoint paths in the file are resolved against
 * its folder, those given in overrides against the current directory. */
CNN_API cnn_status cnn_model_from_yaml(cnn_model **out, const char *path,
                                       const char *const *overrides,
                                       int n_overrides, cnn_error *err);

/* Loads a checkpoint written by cnn_model_save (or by training). The
 * overrides apply to the embedded model description, so the data paths or the
 * number of epochs can be changed when resuming or evaluating. The whole file
 * is verified (magic, version, checksums) before anything is used. */
CNN_API cnn_status cnn_model_load(cnn_model **out, const char *path,
                                  const char *const *overrides, int n_overrides,
                                  cnn_error *err);

/* Writes the complete state (model description, weights, best weights,
 * optimiser state, RNG state, epoch and history) to path atomically: a
 * temporary file in the same folder is written, flushed, synced and renamed. */
CNN_API cnn_status cnn_model_save(const cnn_model *m, const char *path,
                                  cnn_error *err);

CNN_API void cnn_model_free(cnn_model *m);

/* The model description (after overrides) as YAML text, owned by the model. */
CNN_API const char *cnn_model_yaml(const cnn_model *m);

/* The model's name (the YAML "name", or the file's base name). */
CNN_API const char *cnn_model_name(const cnn_model *m);

/* What the description asked for that was adjusted to fit the run, one
 * line per note in the shape of an error ("FILE:LINE:COL: PATH.KEY: what
 * and why"; today: a cosine warm-up as long as the shortened run), or ""
 * when nothing was. Owned by the model. */
CNN_API const char *cnn_model_notes(const cnn_model *m);

/* The checkpoint path named in the model description (resolved). */
CNN_API const char *cnn_model_checkpoint_path(const cnn_model *m);

/* Where a fine-tuned model's first weights came from: the description's
 * init section copied them from another checkpoint when the model was
 * built from it, and checkpoints keep the record. */
typedef struct cnn_init_info {
	const char *from;  /* the source checkpoint's path, resolved */
	const char *model; /* its model's name */
	int epoch;         /* its epochs completed */
	int n_copied;      /* the tensors copied, by name: */
	const char *const *copied;
	/* with tensors: all_matching, in the run that built the model: the
	 * tensors of this model not copied and why, "NAME (why), ..." ("" when
	 * none); NULL when unknown (a model loaded from a checkpoint) or the
	 * tensors were listed */
	const char *skipped;
} cnn_init_info;

/* Fills out and returns 1 when the model's weights started from another
 * checkpoint; returns 0 (out untouched) otherwise. */
CNN_API int cnn_model_init_info(const cnn_model *m, cnn_init_info *out);

/* ------------------------------------------------------------------------ */
/* Inspection                                                               */

#define CNN_MAX_DIMS   4
#define CNN_MAX_INPUTS 16 /* inputs of one merge layer */

typedef struct cnn_layer_info {
	const char *name; /* e.g. "conv2d1" */
	const char *type; /* e.g. "conv2d" */
	int in_shape[3];  /* channels, height, width */
	int out_shape[3];
	size_t n_params; /* trainable: weights and biases */
	/* Where its inputs come from: "input" (the network's input) or the
	 * names of earlier layers; merges (add, concat) have several. */
	int n_inputs;
	const char *inputs[CNN_MAX_INPUTS];
} cnn_layer_info;

typedef struct cnn_tensor_info {
	const char *name; /* e.g. "dense1.weight" */
	int ndim;
	int shape[CNN_MAX_DIMS];
	size_t size;       /* number of floats */
	const float *data; /* the current weights */
	const float *best; /* the best weights kept, or NULL */
	/* The optimiser's state for this tensor: the first and second
	 * moments (adam, adamw), the momentum buffer and zeros (sgd), or the
	 * momentum buffer and the mean square of the gradient (rmsprop). */
	const float *moment1, *moment2;
	/* 1 for weights and biases that train; 0 for a frozen layer's
	 * (trainable: false) and for a layer's state, such as batchnorm's
	 * running statistics, which the optimiser never changes (their
	 * moments stay zero). */
	int trainable;
	/* 1 for a frozen layer's weight and bias, 0 otherwise. */
	int frozen;
} cnn_tensor_info;

typedef struct cnn_epoch_metrics {
	int epoch;             /* 1-based */
	double loss;           /* mean training loss per sample */
	double train_accuracy; /* fraction in [0,1] */
	double test_accuracy;  /* fraction, or -1 when there is no test set */
	double val_accuracy;   /* fraction, or -1 when there is no validation
	                          split */
	double seconds; /* wall time of the epoch, training and evaluation */
} cnn_epoch_metrics;

typedef struct cnn_train_state {
	int epoch;            /* epochs completed */
	int epochs;           /* epochs scheduled */
	uint64_t step;        /* optimiser steps taken */
	int best_epoch;       /* 0 when none */
	double best_accuracy; /* on the selection set (validation, else test) */
	const char *optimizer; /* "adam", "adamw", "sgd" or "rmsprop" */
	const char *keep;      /* "best" or "last" */
	/* Training samples done in epoch epoch + 1 when the checkpoint was
	 * saved in its middle (checkpoint.every_batches, or a stop); 0 between
	 * epochs. */
	uint64_t epoch_samples;
	/* The format version of the checkpoint the model was loaded from; 0 for
	 * a model built from YAML. */
	int checkpoint_version;
	/* Early stopping (training.early_stopping): 1 when it ended training
	 * before training.epochs, after epoch `epoch`; then the epoch of the
	 * last improvement it measured from and its accuracy (a fraction).
	 * monitored names the set that accuracy is measured on: "validation",
	 * "test" or "training" (NULL before the first epoch). */
	int stopped_early;
	int stop_best_epoch;
	double stop_best_accuracy;
	const char *monitored;
} cnn_train_state;

CNN_API int cnn_model_layer_count(const cnn_model *m);
CNN_API cnn_status cnn_model_layer(const cnn_model *m, int i,
                                   cnn_layer_info *out);
CNN_API int cnn_model_tensor_count(const cnn_model *m);
CNN_API cnn_status cnn_model_tensor(const cnn_model *m, int i,
                                    cnn_tensor_info *out);
CNN_API void cnn_model_train_state(const cnn_model *m, cnn_train_state *out);
CNN_API int cnn_model_history_count(const cnn_model *m);
CNN_API const cnn_epoch_metrics *cnn_model_history(const cnn_model *m);

/* The optimiser's hyperparameters as (name, value) pairs, e.g.
 * ("learning_rate", 0.001). Returns how many there are; fills at most max. */
CNN_API int cnn_model_optimizer_params(const cnn_model *m, const char **names,
                                       double *values, int max);

/* ------------------------------------------------------------------------ */
/* Training and evaluation                                                  */

/* Called after every epoch with its metrics; return non-zero to stop
 * training (cnn_model_train then returns CNN_ERR_INTERRUPTED after saving). */
typedef int (*cnn_epoch_callback)(const cnn_epoch_metrics *metrics, void *user);

/* Progress within an epoch, passed to cnn_train_options.on_batch after every
 * training batch. */
typedef struct cnn_batch_progress {
	int epoch;       /* 1-based, the epoch in progress */
	int epochs;      /* epochs scheduled (training.epochs) */
	size_t batch;    /* 1-based, the batch just done */
	size_t batches;  /* batches in this epoch */
	size_t samples;  /* training samples done in this epoch */
	size_t n_train;  /* training samples in an epoch */
	double loss;     /* mean loss per sample over the epoch so far */
	double accuracy; /* training accuracy over the epoch so far */
	double seconds;  /* wall time of the epoch so far (a resumed epoch
	                    counts the time before the stop) */
} cnn_batch_progress;

/* Called after every training batch; informational only (it cannot stop
 * training: use cnn_train_options.stop). */
typedef void (*cnn_batch_callback)(const cnn_batch_progress *progress,
                                   void *user);

/* How a folder of images is being loaded, passed to a cnn_load_callback:
 * after the folder is walked (done 0), after each block of images decoded,
 * and once more at the end with finished set and the final counts. */
typedef struct cnn_load_progress {
	const char *path;   /* the folder */
	size_t done, total; /* image files decoded so far, of total */
	int finished;       /* 1 on the last call */
	int classes;        /* class folders */
	size_t images;      /* finished: the samples kept */
	/* skipped: hidden entries (names starting with "."), files that are
	 * not images (by their extension) and other entries (devices, broken
	 * links, folders seen already through a link), images that could
	 * not be read (with skip_bad) */
	size_t hidden, other, bad;
} cnn_load_progress;
typedef void (*cnn_load_callback)(const cnn_load_progress *p, void *user);

/* Later versions may add fields at the end: initialise it with designated
 * initialisers, e.g. cnn_train_options o = {.threads = 2}, so that new
 * fields start as 0 / NULL (their defaults). */
typedef struct cnn_train_options {
	const char *checkpoint; /* where to save; NULL: the YAML's path */
	int threads;            /* 0: all cores */
	cnn_epoch_callback on_epoch;
	void *user;
	/* If not NULL, read after every batch: once non-zero (e.g. set by a
	 * SIGINT or SIGTERM handler), training saves a checkpoint of the
	 * current state, in the middle of an epoch if need be, and returns
	 * CNN_ERR_INTERRUPTED. */
	const volatile sig_atomic_t *stop;
	/* If not NULL, called after every training batch with user. */
	cnn_batch_callback on_batch;
	/* If not NULL, called with user while a folder data set loads. */
	cnn_load_callback on_load;
} cnn_train_options;

/* Trains from the model's current position (epoch, and batch within it) to
 * training.epochs: at the start of every epoch, shuffles the training
 * samples with the model's own RNG; runs mini-batches (the last one
 * partial), evaluates after every epoch, keeps the best or last weights and
 * saves a checkpoint every checkpoint.every epochs (and every
 * checkpoint.every_batches batches within an epoch, if set). Checks first
 * that the checkpoint can be created (CNN_ERR_IO). A NaN or infinite loss or
 * weight stops training with CNN_ERR_DIVERGED, naming the epoch and batch,
 * without saving. Deterministic: the same seed gives bit-identical weights
 * whatever the thread count, and a run resumed from any checkpoint ends with
 * the same weights as one that never stopped. */
CNN_API cnn_status cnn_model_train(cnn_model *m, const cnn_train_options *opts,
                                   cnn_error *err);

typedef struct cnn_eval_result {
	size_t n;        /* samples evaluated */
	double loss;     /* mean loss per sample */
	double accuracy; /* fraction correct */
	int classes;
	/* confusion[true * classes + predicted], classes*classes counts;
	 * owned by the caller via cnn_eval_result_free */
	uint64_t *confusion;
} cnn_eval_result;

/* Evaluates the kept weights (best when training.keep is best and a best
 * epoch exists, else the current ones) on the model's test data. */
CNN_API cnn_status cnn_model_evaluate(cnn_model *m, int threads,
                                      cnn_eval_result *out, cnn_error *err);
CNN_API void cnn_eval_result_free(cnn_eval_result *r);

/* The input shape the model expects (channels, height, width) and its number
 * of classes. */
CNN_API void cnn_model_input_shape(const cnn_model *m, int shape[3]);
CNN_API int cnn_model_classes(const cnn_model *m);
/* The name of class c (0 to classes - 1): from data.classes, or the
 * training folder's subfolders, kept in checkpoints; NULL when the model
 * has no names (or c is out of range). */
CNN_API const char *cnn_model_class_name(const cnn_model *m, int c);

/* Classifies n images given as bytes (n * channels * height * width, each
 * image in CHW order), scaled by the training data's scale factor; writes
 * n * classes probabilities. Uses the kept weights. */
CNN_API cnn_status cnn_model_predict(cnn_model *m, const uint8_t *pixels,
                                     size_t n, float *probs, cnn_error *err);

/* Reads an image file (PGM, PNG or JPEG, by its content) and fits it to
 * the model's input as its training data was: the channels converted and,
 * when the data said resize: bilinear, the size scaled (cnn_image_fit);
 * else an image of another size is CNN_ERR_DATA naming the file and both
 * sizes. *pixels (channels * height * width bytes of the model's input,
 * CHW) is freshly allocated: free it with free(). */
CNN_API cnn_status cnn_model_read_image(const cnn_model *m, const char *path,
                                        uint8_t **pixels, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* Export                                                                   */

/* The formats cnn_model_export writes. */
typedef enum cnn_export_format {
	CNN_EXPORT_ONNX = 1, /* ONNX, IR version 7, opset 13 */
	CNN_EXPORT_C = 2     /* one C99 source file, no allocation */
} cnn_export_format;

/* Writes the model with its kept weights (those cnn_model_evaluate and
 * cnn_model_predict use) to path, atomically as cnn_model_save does, for
 * other runtimes:
 *  - ONNX: input "input", float32 [N, C, H, W] with a symbolic N, the
 *    pixels already scaled; output "probabilities" (and "logits" when the
 *    model ends in softmax); dropout left out.
 *  - C: one C99 file with the weights as static const arrays and
 *    int NAME_predict(const float *input, float *probabilities,
 *    float *workspace), NAME the model's name made a C identifier; its
 *    header comment gives the input layout and scale and the workspace
 *    size.
 * A layer the format cannot express fails with CNN_ERR_CONFIG naming it;
 * a file that cannot be written with CNN_ERR_IO (nothing is left behind).
 * Both agree with cnn_model_predict within 1e-5. */
CNN_API cnn_status cnn_model_export(cnn_model *m, const char *path,
                                    cnn_export_format format, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

typedef struct cnn_dataset cnn_dataset;

/* Reads images and labels. format is "idx" (images and labels are paths,
 * plain or gzip; labels NULL reads images only, every label 0), "csv"
 * (path; label column first unless label_column says
 * otherwise; header 1, 0, or -1 to detect) or "folder" (path: a folder
 * with one subfolder per class; see the fields below and cnn-model(5)).
 * shape is the expected channels, height, width; classes bounds the
 * labels (a folder must have that many classes). */
typedef struct cnn_data_source {
	const char *format;
	const char *images;
	const char *labels;
	const char *path;
	int header;
	int label_column;
	int shape[3];
	int classes;
	long limit; /* read only the first limit samples; 0 for all */
	/* format "folder": */
	int resize;   /* a cnn_resize: an image of another size is an error
	                 (CNN_RESIZE_NONE) or scaled (cnn_image_fit) */
	int skip_bad; /* 1: an image that cannot be read is skipped and
	                 counted instead of failing the load */
	/* The classes' names in label order (classes of them), fixing the
	 * order and refusing other folders; NULL: the subfolders' names in
	 * sorted byte order. */
	const char *const *class_names;
	cnn_load_callback on_load; /* NULL: none */
	void *user;                /* passed to on_load */
} cnn_data_source;

CNN_API cnn_status cnn_dataset_load(cnn_dataset **out,
                                    const cnn_data_source *src, cnn_error *err);
CNN_API void cnn_dataset_free(cnn_dataset *d);
CNN_API size_t cnn_dataset_count(const cnn_dataset *d);
/* Pointer to sample i's bytes (channels * height * width) and its label. */
CNN_API const uint8_t *cnn_dataset_image(const cnn_dataset *d, size_t i);
CNN_API int cnn_dataset_label(const cnn_dataset *d, size_t i);
/* The name of class c of a folder data set (its subfolder's name), or
 * NULL (other formats, c out of range). */
CNN_API const char *cnn_dataset_class_name(const cnn_dataset *d, int c);

/* Reads a binary (P5) or ASCII (P2) PGM image with maxval <= 255 into a
 * freshly allocated byte array (*pixels, free with free()). */
CNN_API cnn_status cnn_image_read_pgm(const char *path, uint8_t **pixels,
                                      int *width, int *height, cnn_error *err);

/* 1 when the library was built with libpng (PNG images can be read and
 * written), else 0. PGM always works. */
CNN_API int cnn_have_png(void);

/* Reads a PNG image into a freshly allocated byte array (*pixels, free with
 * free()) in CHW order: greyscale gives 1 channel, RGB and palette images 3
 * (planes R, G, B); bit depths below 8 are expanded and 16-bit samples
 * scaled to 8 bits. An image with an alpha channel (or transparency) is
 * refused (CNN_ERR_DATA): nothing is converted silently. CNN_ERR_USAGE when
 * the library was built without libpng. */
CNN_API cnn_status cnn_image_read_png(const char *path, uint8_t **pixels,
                                      int *channels, int *width, int *height,
                                      cnn_error *err);

/* 1 when the library was built with libjpeg(-turbo) (JPEG images can be
 * read), else 0. */
CNN_API int cnn_have_jpeg(void);

/* Reads a JPEG (baseline or progressive; arithmetic coding too) into a
 * freshly allocated byte array (*pixels, free with free()) in CHW order:
 * greyscale gives 1 channel, YCbCr/RGB 3 (planes R, G, B), as libjpeg
 * decodes them (its exact integer IDCT). CMYK/YCCK images are refused
 * (CNN_ERR_DATA), and so is a damaged file, libjpeg's warnings included:
 * "PATH: corrupt JPEG: <libjpeg's message>" (e.g. "Premature end of JPEG
 * file" for a truncated one), never a partly grey image. Sizes above
 * 65536 a side or 2^32 bytes, or absurd for the file's length, are refused
 * before anything is allocated. CNN_ERR_USAGE without libjpeg. */
CNN_API cnn_status cnn_image_read_jpeg(const char *path, uint8_t **pixels,
                                       int *channels, int *width, int *height,
                                       cnn_error *err);

/* Reads PGM, PNG or JPEG, chosen by the file's first bytes (not its name:
 * "P5"/"P2", the PNG signature, FF D8 FF), as cnn_image_read_pgm (1
 * channel), cnn_image_read_png and cnn_image_read_jpeg do; the file is
 * read as it is (a gzip'ed PGM is not recognised). Anything else is
 * CNN_ERR_DATA "PATH: not a PGM, PNG or JPEG image". */
CNN_API cnn_status cnn_image_read(const char *path, uint8_t **pixels,
                                  int *channels, int *width, int *height,
                                  cnn_error *err);

/* How cnn_image_fit treats a size that differs from the model's. */
typedef enum cnn_resize {
	CNN_RESIZE_NONE = 0,    /* refuse it */
	CNN_RESIZE_BILINEAR = 1 /* scale it (the rule below) */
} cnn_resize;

/* Fits one decoded image (src: channels x height x width bytes, CHW) to
 * shape (channels, height, width) into dst (shape[0] * shape[1] *
 * shape[2] bytes). First the channels: 1 -> 3 copies the grey plane to R,
 * G and B; 3 -> 1 is the luma Y = (299 R + 587 G + 114 B + 500) / 1000 in
 * integers (ITU-R BT.601); the same count is copied; other conversions are
 * refused (CNN_ERR_DATA "PATH: image has C channels; the model expects C
 * (only 1 and 3 are converted)"). Then the size: CNN_RESIZE_NONE refuses a
 * different size with CNN_ERR_DATA "PATH: image is WxH; the model expects
 * WxH (set resize: bilinear to scale it)"; CNN_RESIZE_BILINEAR scales each
 * plane with PyTorch's interpolate(mode="bilinear", align_corners=False,
 * antialias=False) rule in exact integers, so every machine gives the same
 * bytes. For output column x (rows likewise, giving y0, y1, fy):
 *   num = (2x + 1) * in_w - out_w, den = 2 * out_w  (sx = num / den)
 *   num <= 0: x0 = 0, fx = 0; else x0 = num / den and
 *   fx = (4096 * (num % den) + den) / (2 * den)     (round(frac * 2048))
 *   x0 >= in_w - 1: x0 = in_w - 1, fx = 0;  x1 = min(x0 + 1, in_w - 1)
 *   out = ((2048 - fy) * ((2048 - fx) * p[y0][x0] + fx * p[y0][x1])
 *          + fy * ((2048 - fx) * p[y1][x0] + fx * p[y1][x1]) + 2^21) >> 22
 * (integer division). path only names the image in messages (may be NULL:
 * "image"). CNN_ERR_USAGE for NULL pointers, sizes below 1 or above 65536,
 * or an unknown resize mode. */
CNN_API cnn_status cnn_image_fit(const char *path, const uint8_t *src,
                                 int channels, int width, int height,
                                 const int shape[3], cnn_resize resize,
                                 uint8_t *dst, cnn_error *err);

/* Writes a width x height 8-bit greyscale image (row by row) as binary PGM
 * (P5) or PNG at path, atomically (a temporary file beside it, then
 * renamed). cnn_image_write_png fails with CNN_ERR_USAGE without libpng. */
CNN_API cnn_status cnn_image_write_pgm(const char *path, const uint8_t *pixels,
                                       int width, int height, cnn_error *err);
CNN_API cnn_status cnn_image_write_png(const char *path, const uint8_t *pixels,
                                       int width, int height, cnn_error *err);

/* Lists the image files under folder dir as a folder data set's class
 * folder is walked: recursively, entries in sorted byte order, hidden
 * entries (names starting with ".") and files without a .png, .pgm, .jpg
 * or .jpeg extension left out, a folder met again through a link entered
 * once. *paths (*n paths, each dir "/" ...) is freshly allocated: free it
 * with cnn_image_list_free. CNN_ERR_IO naming a folder that cannot be
 * read. */
CNN_API cnn_status cnn_image_list(const char *dir, char ***paths, size_t *n,
                                  cnn_error *err);
CNN_API void cnn_image_list_free(char **paths, size_t n);

/* ------------------------------------------------------------------------ */
/* Plots                                                                    */

/* Writes the learning curves of n epochs of history as a standalone SVG 1.1
 * document at path: the mean training loss per epoch (left axis) and the
 * training, validation and test accuracies in percent (right axis; a curve
 * whose values are all -1 is left out), both axes and the epoch axis
 * labelled with ticks, a legend, the best epoch (1-based; 0 for none) marked
 * with a vertical line and its accuracy, and title at the top. Written
 * atomically (a temporary file beside path, then renamed), so a browser
 * reloading it while training never sees half a file. n == 0 gives a valid
 * chart that says there is no epoch yet. */
CNN_API cnn_status cnn_plot_svg(const char *path, const char *title,
                                const cnn_epoch_metrics *history, int n,
                                int best_epoch, cnn_error *err);

/* ------------------------------------------------------------------------ */
/* Several processes (MPI)                                                  */

/* Training over N processes started by `mpirun -np N` (a build with MPI):
 * each process computes its share of every batch and the gradients are
 * added in the one order a single process uses, so the weights are
 * bit-identical whatever N and the thread counts. Every process calls the
 * same functions in the same order; rank 0 alone writes checkpoints (the
 * caller should also print and write its own files on rank 0 alone).
 *
 * cnn_dist_start joins the job when a launcher started this process (call
 * it first, with main's arguments) and does nothing otherwise; without MPI
 * it fails with CNN_ERR_USAGE under a launcher of several processes, since
 * each would train alone. cnn_dist_finish leaves the job (call it last). */
CNN_API cnn_status cnn_dist_start(int *argc, char ***argv, cnn_error *err);
CNN_API void cnn_dist_finish(void);

/* This process's rank (0 to size - 1) and the number of processes. */
CNN_API int cnn_dist_rank(void);
CNN_API int cnn_dist_size(void);

/* Makes every process agree on an outcome: when err holds an error in any
 * process, every process gets that of the lowest such rank (its message
 * naming the process and host when it is not rank 0) and returns its
 * status; else returns CNN_OK. Call it after a step that may fail in one
 * process alone (loading a file), so that all stop together. */
CNN_API cnn_status cnn_dist_agree(cnn_error *err);

/* Wall time this process spent in the exchanges between processes
 * (waiting included) since it started, in seconds. */
CNN_API double cnn_dist_wait_seconds(void);

#ifdef __cplusplus
}
#endif
#endif /* CNN_H */
