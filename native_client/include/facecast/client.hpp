// A facecast client over ZeroMQ (DEALER): requests and their replies, poses and frames, with
// the frame's pixels taken from the reply or from the shared-memory ring. Like
// facecast.client.Client: a daemon that forgot this session (restarted) is answered by
// binding again, and a pose that got no reply within retry_ms is sent again.
// One Client belongs to one thread; Session (session.hpp) runs one on its own thread.
#pragma once
#include <array>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "facecast/messages.hpp"
#include "facecast/ring_reader.hpp"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace facecast {

struct ClientOptions {
    std::string endpoint = "tcp://127.0.0.1:5555";
    std::string name = "facecast-cpp/0.1.0";
    int timeout_ms = 10000;  // a request, or render_*, gives up after this
    int retry_ms = 1000;     // render_*: send the pose again when no reply came within this
    bool auto_rebind = true; // bind again when the daemon answers NOT_BOUND (it restarted)
};

// The daemon answered a request with an error.
class FacecastError : public std::runtime_error {
public:
    explicit FacecastError(Error e);
    Error error;
};

class ClientTimeout : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ReceivedFrame {
    Frame message;                    // as received; for a ring frame, data is empty
    std::vector<std::uint8_t> pixels; // raw formats: height rows of width*channels; jpeg/png: the file
    std::optional<RingFrame> ring;    // set when the pixels came from the ring
};

class Client {
public:
    explicit Client(ClientOptions options);
    ~Client();  // a bound session is ended with a best-effort bye
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Welcome hello();
    Bound bind(const Bind& request);  // opens the ring for output "shm"
    Pong ping();
    StatsReport stats();
    std::vector<std::string> characters();
    void bye();

    // Non-blocking sends; they return the pose's seq, or -1 when the daemon is not reading
    // (the send queue is full: the pose is dropped and counted in poses_dropped()).
    std::int64_t send_landmarks(const std::vector<float>& xyz, const std::string& format = "mediapipe478",
                                const std::optional<std::string>& tracking = std::nullopt);
    std::int64_t send_blendshapes(const std::array<float, 52>& weights,
                                  const std::optional<std::array<float, 3>>& head = std::nullopt);
    // Send one pose and wait for its frame (resending every retry_ms, rebinding if needed).
    ReceivedFrame render_landmarks(const std::vector<float>& xyz, const std::string& format = "mediapipe478");
    ReceivedFrame render_blendshapes(const std::array<float, 52>& weights,
                                     const std::optional<std::array<float, 3>>& head = std::nullopt);

    bool send(const Message& m);                       // false: not queued (daemon not reading)
    bool send_raw(const std::vector<std::uint8_t>& payload);
    // The next reply, or nullopt after timeout_ms. A reply that does not decode throws ProtocolError.
    std::optional<Message> recv(int timeout_ms);
    // The frame's pixels: inline, or copied from the ring under its seqlock.
    ReceivedFrame resolve(Frame frame);
    // True when `e` says the daemon lost this session and it was bound again (or already was).
    bool handle_lost_session(const Error& e);
    // A fresh socket to the same endpoint (done by itself after kReconnectAfterUnsent sends in
    // a row could not be queued); the daemon sees a new client: bind again (handle_lost_session).
    void reconnect();
    static constexpr int kReconnectAfterUnsent = 3;

    const std::optional<Bound>& binding() const { return binding_; }
    const std::optional<Welcome>& welcome() const { return welcome_; }
    const RingReader* ring() const { return ring_.get(); }
    int rebinds() const { return rebinds_; }
    std::int64_t poses_dropped() const { return poses_dropped_; }
    int reconnects() const { return reconnects_; }
    const ClientOptions& options() const { return options_; }

private:
    template <typename Reply> Reply request(const Message& m, const char* type);
    ReceivedFrame render_with(const std::function<std::int64_t()>& send_pose);
    std::int64_t send_pose(Pose pose);
    void open_socket();

    ClientOptions options_;
    std::unique_ptr<zmq::context_t> ctx_;
    std::unique_ptr<zmq::socket_t> sock_;
    std::int64_t seq_ = 0;
    std::int64_t rebound_at_seq_ = -1;
    int rebinds_ = 0;
    int unsent_ = 0;
    int reconnects_ = 0;
    std::int64_t poses_dropped_ = 0;
    std::optional<Bind> bind_args_;
    std::optional<Bound> binding_;
    std::optional<Welcome> welcome_;
    std::unique_ptr<RingReader> ring_;
};

// Seconds since the Unix epoch (the protocol's clock).
double unix_now();

}  // namespace facecast
