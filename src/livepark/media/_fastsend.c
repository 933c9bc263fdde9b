/* livepark.media._fastsend — the per-subscriber inner loop of the SFU, in C.
 *
 * For one serialised RTP packet and a list of sinks (one per subscriber slot that shares
 * the packet's bytes), each sink costs: copy into a stack buffer, SRTP-protect it with the
 * subscriber leg's libsrtp session, sendto() on the leg's nominated ICE socket.  Nothing
 * is allocated per sink and no Python code runs per sink except ``transport.is_closing()``
 * (so a sink never writes to a file descriptor its transport has given back).
 *
 * libsrtp is not linked: ``srtp_protect`` is called through the function pointer that
 * pylibsrtp's own cffi module exports (handed in as an integer), on the ``srtp_t`` of the
 * leg's pylibsrtp Session.  Both come from livepark.media.aiortc_adapter, which also keeps
 * the session and transport alive as long as the sink exists.
 *
 * Errors never raise out of fanout(): EAGAIN/ENOBUFS count as dropped datagrams (UDP); any
 * other failure is returned with the sink so the caller can close that subscriber.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_PACKET 4096
#define SRTP_TRAILER 148 /* SRTP_MAX_TRAILER_LEN of libsrtp 2 (144) rounded up */

typedef int (*protect_fn)(void *ctx, void *hdr, int *len);

typedef struct {
    PyObject_HEAD
    void *srtp;
    protect_fn protect;
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    PyObject *transport; /* has is_closing() */
    PyObject *keep;      /* anything that must outlive the sink (the SRTP session) */
    unsigned long long sent;
    unsigned long long dropped;
} Sink;

static PyObject *str_is_closing;

static void Sink_dealloc(Sink *self) {
    Py_XDECREF(self->transport);
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Sink_init(Sink *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"srtp", "protect", "fd", "host", "port", "transport", "keep", NULL};
    unsigned long long srtp_ptr, fn_ptr;
    int fd, port;
    const char *host;
    PyObject *transport, *keep;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KKisiOO", kwlist, &srtp_ptr, &fn_ptr, &fd, &host,
                                     &port, &transport, &keep))
        return -1;
    if (!srtp_ptr || !fn_ptr) {
        PyErr_SetString(PyExc_ValueError, "null SRTP context or protect function");
        return -1;
    }
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "bad file descriptor");
        return -1;
    }
    if (port <= 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "bad port");
        return -1;
    }
    memset(&self->addr, 0, sizeof(self->addr));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&self->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&self->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((unsigned short)port);
        self->addrlen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)port);
        self->addrlen = sizeof(*a6);
    } else {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return -1;
    }
    self->srtp = (void *)(uintptr_t)srtp_ptr;
    self->protect = (protect_fn)(uintptr_t)fn_ptr;
    self->fd = fd;
    Py_INCREF(transport);
    Py_XSETREF(self->transport, transport);
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    return 0;
}

static PyObject *Sink_counters(Sink *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("KK", self->sent, self->dropped);
}

static PyMethodDef Sink_methods[] = {
    {"counters", (PyCFunction)Sink_counters, METH_NOARGS, "(datagrams sent, datagrams dropped)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SinkType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "livepark.media._fastsend.Sink",
    .tp_basicsize = sizeof(Sink),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sink(srtp, protect, fd, host, port, transport, keep): one subscriber slot's "
              "SRTP session and UDP destination.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sink_init,
    .tp_dealloc = (destructor)Sink_dealloc,
    .tp_methods = Sink_methods,
};

/* Append (sink, reason) to *failed, creating the list on first use. 0 on success. */
static int add_failure(PyObject **failed, PyObject *sink, PyObject *reason) {
    if (reason == NULL)
        return -1;
    if (*failed == NULL && (*failed = PyList_New(0)) == NULL) {
        Py_DECREF(reason);
        return -1;
    }
    PyObject *pair = PyTuple_Pack(2, sink, reason);
    Py_DECREF(reason);
    if (pair == NULL)
        return -1;
    int rc = PyList_Append(*failed, pair);
    Py_DECREF(pair);
    return rc;
}

static PyObject *fanout(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "fanout(data: bytes, sinks: list[Sink])");
        return NULL;
    }
    PyObject *data = args[0], *sinks = args[1];
    if (!PyBytes_Check(data) || !PyList_Check(sinks)) {
        PyErr_SetString(PyExc_TypeError, "fanout(data: bytes, sinks: list[Sink])");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n > MAX_PACKET) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    const char *src = PyBytes_AS_STRING(data);
    unsigned char buf[MAX_PACKET + SRTP_TRAILER];
    Py_ssize_t sent = 0, dropped = 0;
    PyObject *failed = NULL;
    /* The list may not change under us: nothing here runs Python code that could touch it,
       except is_closing(), which does not. Hold a reference all the same. */
    Py_INCREF(sinks);
    Py_ssize_t count = PyList_GET_SIZE(sinks);
    for (Py_ssize_t i = 0; i < count && i < PyList_GET_SIZE(sinks); i++) {
        PyObject *item = PyList_GET_ITEM(sinks, i);
        if (!PyObject_TypeCheck(item, &SinkType)) {
            Py_DECREF(sinks);
            Py_XDECREF(failed);
            PyErr_SetString(PyExc_TypeError, "sinks must hold Sink objects");
            return NULL;
        }
        Sink *s = (Sink *)item;
        PyObject *closing = PyObject_CallMethodNoArgs(s->transport, str_is_closing);
        if (closing == NULL)
            goto error;
        int is_closed = PyObject_IsTrue(closing);
        Py_DECREF(closing);
        if (is_closed < 0)
            goto error;
        if (is_closed) {
            if (add_failure(&failed, item, PyUnicode_FromString("transport closed")) < 0)
                goto error;
            continue;
        }
        memcpy(buf, src, (size_t)n);
        int len = (int)n;
        int rc = s->protect(s->srtp, buf, &len);
        if (rc != 0) {
            if (add_failure(&failed, item, PyUnicode_FromFormat("srtp error %d", rc)) < 0)
                goto error;
            continue;
        }
        ssize_t w = sendto(s->fd, buf, (size_t)len, 0, (struct sockaddr *)&s->addr, s->addrlen);
        if (w >= 0) {
            sent++;
            s->sent++;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            dropped++;
            s->dropped++;
        } else if (errno == EINTR) {
            /* A signal: count it as dropped rather than retrying inside the hot loop. */
            dropped++;
            s->dropped++;
        } else {
            int e = errno;
            if (add_failure(&failed, item, PyUnicode_FromFormat("sendto: %s", strerror(e))) < 0)
                goto error;
        }
    }
    Py_DECREF(sinks);
    if (failed == NULL) {
        failed = Py_None;
        Py_INCREF(failed);
    }
    return Py_BuildValue("nnN", sent, dropped, failed);
error:
    Py_DECREF(sinks);
    Py_XDECREF(failed);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"fanout", (PyCFunction)(void (*)(void))fanout, METH_FASTCALL,
     "fanout(data, sinks) -> (sent, dropped, failed): protect and send data to every sink; "
     "failed is None or a list of (sink, reason)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "livepark.media._fastsend",
    "The SFU's per-subscriber send loop (SRTP protect + sendto) in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastsend(void) {
    if (PyType_Ready(&SinkType) < 0)
        return NULL;
    str_is_closing = PyUnicode_InternFromString("is_closing");
    if (str_is_closing == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SinkType);
    if (PyModule_AddObject(m, "Sink", (PyObject *)&SinkType) < 0) {
        Py_DECREF(&SinkType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_PACKET", MAX_PACKET) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
