#include "facecast/client.hpp"

#include <zmq.hpp>

namespace facecast {

FacecastError::FacecastError(Error e)
    : std::runtime_error(e.name + " (" + std::to_string(e.code) + "): " + e.message), error(std::move(e)) {}

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Client::Client(ClientOptions options) : options_(std::move(options)), ctx_(std::make_unique<zmq::context_t>(1)) {
    open_socket();
}

void Client::open_socket() {
    sock_ = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::dealer);
    sock_->set(zmq::sockopt::linger, 0);
    sock_->set(zmq::sockopt::rcvhwm, 1000);
    sock_->set(zmq::sockopt::sndhwm, 1000);
    sock_->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(kMaxReplyBytes));  // larger: connection dropped
    sock_->connect(options_.endpoint);
}

void Client::reconnect() {
    sock_->close();
    open_socket();
    unsent_ = 0;
    ++reconnects_;
}

Client::~Client() {
    if (binding_) {
        try {
            send(Bye{});  // best effort: the daemon frees the session and its ring at once
            sock_->set(zmq::sockopt::linger, 200);
        } catch (...) {
        }
    }
    ring_.reset();
    sock_->close();
}

bool Client::send_raw(const std::vector<std::uint8_t>& payload) {
    auto sent = sock_->send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
    if (sent.has_value()) {
        unsent_ = 0;
        return true;
    }
    // Not queued: the daemon is not reading (high-water mark), or libzmq dropped the
    // connection for good (a reply over ZMQ_MAXMSGSIZE: it does not reconnect by itself).
    // Either way a fresh socket is the way back; the daemon then answers NOT_BOUND and the
    // session is bound again.
    if (++unsent_ >= kReconnectAfterUnsent) reconnect();
    return false;
}

bool Client::send(const Message& m) { return send_raw(encode(m)); }

std::optional<Message> Client::recv(int timeout_ms) {
    zmq::pollitem_t item{static_cast<void*>(*sock_), 0, ZMQ_POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0)));
        zmq::message_t msg;
        if (!sock_->recv(msg, zmq::recv_flags::dontwait)) {
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            continue;
        }
        if (msg.more()) {  // a reply is one part: drain and refuse anything else
            while (msg.more() && sock_->recv(msg, zmq::recv_flags::dontwait)) {
            }
            throw ProtocolError(ErrorCode::Malformed, "a reply of more than one part");
        }
        return decode(static_cast<const std::uint8_t*>(msg.data()), msg.size(), kReplyBounds, kMaxReplyBytes);
    }
}

template <typename Reply>
Reply Client::request(const Message& m, const char* type) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.timeout_ms);
    if (!send(m)) throw ClientTimeout(std::string("cannot queue ") + type_name(m) + ": the daemon is not reading");
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw ClientTimeout(std::string("no ") + type + " from " + options_.endpoint);
        auto reply = recv(static_cast<int>(left.count()));
        if (!reply) continue;
        if (auto* r = std::get_if<Reply>(&*reply)) return std::move(*r);
        if (auto* e = std::get_if<Error>(&*reply); e != nullptr && e->ref == std::string(type_name(m)))
            throw FacecastError(*e);
        // anything else (a late frame, an error about an earlier pose) is not this reply
    }
}

Welcome Client::hello() {
    welcome_ = request<Welcome>(Hello{options_.name, {kProtocolVersion}}, "welcome");
    return *welcome_;
}

Bound Client::bind(const Bind& req) {
    Bound b = request<Bound>(req, "bound");
    ring_.reset();
    if (b.output == "shm") {
        auto name = b.shm ? as_string(b.shm->find("name")) : std::nullopt;
        if (!name) throw RingError("a shm binding without a ring name");
        ring_ = std::make_unique<RingReader>(*name);
    }
    bind_args_ = req;
    binding_ = b;
    return b;
}

Pong Client::ping() { return request<Pong>(Ping{unix_now(), 0}, "pong"); }
StatsReport Client::stats() { return request<StatsReport>(Stats{}, "stats_report"); }
std::vector<std::string> Client::characters() { return request<CharacterList>(Characters{}, "character_list").characters; }

void Client::bye() {
    request<Goodbye>(Bye{}, "goodbye");
    binding_.reset();
    bind_args_.reset();
    ring_.reset();
}

std::int64_t Client::send_pose(Pose pose) {
    pose.seq = ++seq_;
    pose.t_send = unix_now();
    if (!send(pose)) {
        ++poses_dropped_;
        return -1;
    }
    return pose.seq;
}

std::int64_t Client::send_landmarks(const std::vector<float>& xyz, const std::string& format,
                                    const std::optional<std::string>& tracking) {
    Pose p;
    p.landmarks = make_array({static_cast<std::uint32_t>(xyz.size() / 3), 3}, xyz, format);
    p.tracking = tracking;
    return send_pose(std::move(p));
}

std::int64_t Client::send_blendshapes(const std::array<float, 52>& weights, const std::optional<std::array<float, 3>>& head) {
    Pose p;
    p.blendshapes = make_array({52}, std::vector<float>(weights.begin(), weights.end()));
    if (head) p.head = make_array({3}, std::vector<float>(head->begin(), head->end()));
    return send_pose(std::move(p));
}

ReceivedFrame Client::render_landmarks(const std::vector<float>& xyz, const std::string& format) {
    return render_with([&] { return send_landmarks(xyz, format); });
}

ReceivedFrame Client::render_blendshapes(const std::array<float, 52>& weights, const std::optional<std::array<float, 3>>& head) {
    return render_with([&] { return send_blendshapes(weights, head); });
}

// Any copy's frame answers the call (they carry the same pose), so a daemon slower than
// retry_ms slows the call down but never livelocks it.
ReceivedFrame Client::render_with(const std::function<std::int64_t()>& send_pose_fn) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.timeout_ms);
    send_pose_fn();
    const std::int64_t first = seq_;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw ClientTimeout("no frame from " + options_.endpoint);
        auto reply = recv(static_cast<int>(std::min<long long>(options_.retry_ms, left.count())));
        if (!reply) {
            send_pose_fn();
            continue;
        }
        if (auto* f = std::get_if<Frame>(&*reply)) {
            if (f->seq >= first) return resolve(std::move(*f));
        } else if (auto* e = std::get_if<Error>(&*reply)) {
            if (handle_lost_session(*e)) {
                send_pose_fn();
            } else if ((e->seq && *e->seq >= first) || e->ref != std::string("pose")) {
                throw FacecastError(*e);
            }
        }
    }
}

ReceivedFrame Client::resolve(Frame frame) {
    ReceivedFrame out;
    if (frame.slot) {
        if (!ring_) throw RingError("a shared-memory frame arrived but no ring is open (bind with output \"shm\")");
        if (*frame.slot < 0) throw RingError("negative slot");
        std::optional<std::uint64_t> lock;
        if (frame.slot_seq) lock = static_cast<std::uint64_t>(*frame.slot_seq);
        out.ring = ring_->read(static_cast<std::uint32_t>(*frame.slot), lock, out.pixels);
    } else {
        out.pixels = std::move(frame.data);
        frame.data.clear();
        const std::uint32_t code = ring_pixel_format_code(frame.pixel_format);
        if (code != 0) {
            const std::uint64_t want = std::uint64_t(frame.width) * frame.height * (code == 2 ? 3 : 4);
            if (frame.width < 0 || frame.height < 0 || out.pixels.size() != want)
                throw ProtocolError(ErrorCode::InvalidField, "frame data does not match width x height x channels");
        }
    }
    out.message = std::move(frame);
    return out;
}

bool Client::handle_lost_session(const Error& e) {
    if (e.code != static_cast<int>(ErrorCode::NotBound) || !options_.auto_rebind || !bind_args_) return false;
    if (e.seq && *e.seq <= rebound_at_seq_) return true;  // a pose sent before we bound again
    rebound_at_seq_ = seq_;
    hello();
    bind(*bind_args_);
    ++rebinds_;
    return true;
}

}  // namespace facecast
