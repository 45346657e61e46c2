/* paho_pub: a minimal publisher on Paho MQTT C's async API, the baseline for bench/send_bench.sh.
 * Reads lines from stdin, then publishes each one as a message as fast as Paho allows and waits
 * for the last confirmation (PUBACK at QoS 1, written at QoS 0).
 *
 *   paho_pub URI TOPIC QOS [--inflight N] [--mode main|callback] [--buffered N] < lines
 *
 * --mode main      the main thread calls MQTTAsync_send in a loop, waiting on a condition
 *                  variable whenever Paho's window (maxInflight) or buffer is full.
 * --mode callback  the main thread sends the first N; every onSuccess callback sends the next,
 *                  on Paho's thread, so no thread hand-off is needed per message.
 * Prints "paho_pub: N messages in S s (R msg/s)" on stderr. */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char** lines;
static int* lens;
static long n_lines, next_line, confirmed;
static int qos = 1, callback_mode = 0;
static const char* topic;
static MQTTAsync client;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected_state; /* 0 waiting, 1 ok, -1 failed */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_sent(void* ctx, MQTTAsync_successData* r);
static void on_fail(void* ctx, MQTTAsync_failureData* r) {
  (void)ctx;
  fprintf(stderr, "paho_pub: publish failed (%d)\n", r ? r->code : 0);
  exit(1);
}

/* Sends line `i`; returns Paho's return code. */
static int send_line(long i) {
  MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
  o.onSuccess = on_sent;
  o.onFailure = on_fail;
  return MQTTAsync_send(client, topic, lens[i], lines[i], qos, 0, &o);
}

static void on_sent(void* ctx, MQTTAsync_successData* r) {
  (void)ctx;
  (void)r;
  long done;
  pthread_mutex_lock(&mu);
  done = ++confirmed;
  long i = callback_mode && next_line < n_lines ? next_line++ : -1;
  pthread_mutex_unlock(&mu);
  if (i >= 0 && send_line(i) != MQTTASYNC_SUCCESS) {
    fprintf(stderr, "paho_pub: send from callback failed\n");
    exit(1);
  }
  if (!callback_mode || done == n_lines) {
    pthread_mutex_lock(&mu);
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
  }
}

static void on_connect(void* ctx, MQTTAsync_successData* r) {
  (void)ctx;
  (void)r;
  pthread_mutex_lock(&mu);
  connected_state = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}
static void on_connect_fail(void* ctx, MQTTAsync_failureData* r) {
  (void)ctx;
  fprintf(stderr, "paho_pub: connect failed (%d)\n", r ? r->code : 0);
  pthread_mutex_lock(&mu);
  connected_state = -1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static void read_lines(void) {
  size_t cap = 1024;
  lines = malloc(cap * sizeof *lines);
  lens = malloc(cap * sizeof *lens);
  char* line = NULL;
  size_t n = 0;
  ssize_t len;
  while ((len = getline(&line, &n, stdin)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if ((size_t)n_lines == cap) {
      cap *= 2;
      lines = realloc(lines, cap * sizeof *lines);
      lens = realloc(lens, cap * sizeof *lens);
    }
    lines[n_lines] = malloc((size_t)len + 1);
    memcpy(lines[n_lines], line, (size_t)len + 1);
    lens[n_lines++] = (int)len;
  }
  free(line);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: paho_pub URI TOPIC QOS [--inflight N] [--mode main|callback] [--buffered N]\n");
    return 2;
  }
  const char* uri = argv[1];
  topic = argv[2];
  qos = atoi(argv[3]);
  int inflight = 100, buffered = 100;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--inflight")) inflight = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mode")) callback_mode = !strcmp(argv[i + 1], "callback");
    else if (!strcmp(argv[i], "--buffered")) buffered = atoi(argv[i + 1]);
  }
  read_lines();
  if (n_lines == 0) return 0;

  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  co.MQTTVersion = MQTTVERSION_3_1_1;
  co.maxBufferedMessages = buffered;
  if (MQTTAsync_createWithOptions(&client, uri, "paho_pub", MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) != 0) return 1;
  MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer;
  c.MQTTVersion = MQTTVERSION_3_1_1;
  c.cleansession = 1;
  c.maxInflight = inflight;
  c.onSuccess = on_connect;
  c.onFailure = on_connect_fail;
  if (MQTTAsync_connect(client, &c) != 0) return 1;
  pthread_mutex_lock(&mu);
  while (connected_state == 0) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  if (connected_state < 0) return 1;

  const double start = now();
  if (callback_mode) {
    long first = inflight < n_lines ? inflight : n_lines;
    pthread_mutex_lock(&mu);
    next_line = first;
    pthread_mutex_unlock(&mu);
    for (long i = 0; i < first; ++i)
      if (send_line(i) != MQTTASYNC_SUCCESS) return 1;
  } else {
    for (long i = 0; i < n_lines;) {
      int rc = send_line(i);
      if (rc == MQTTASYNC_SUCCESS) {
        ++i;
        continue;
      }
      if (rc != MQTTASYNC_MAX_MESSAGES_INFLIGHT && rc != MQTTASYNC_MAX_BUFFERED_MESSAGES) {
        fprintf(stderr, "paho_pub: send failed (%d)\n", rc);
        return 1;
      }
      /* Window or buffer full: wait for a confirmation to free a slot. */
      pthread_mutex_lock(&mu);
      long seen = confirmed;
      while (confirmed == seen) pthread_cond_wait(&cv, &mu);
      pthread_mutex_unlock(&mu);
    }
  }
  pthread_mutex_lock(&mu);
  while (confirmed < n_lines) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  const double seconds = now() - start;
  fprintf(stderr, "paho_pub: %ld messages in %.3f s (%.0f msg/s)\n", n_lines, seconds, (double)n_lines / seconds);

  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  d.timeout = 1000;
  MQTTAsync_disconnect(client, &d);
  MQTTAsync_destroy(&client);
  return 0;
}
