#include "facecast/session.hpp"

#include <chrono>

namespace facecast {

Session::Session(ClientOptions options, Bind bind) : options_(std::move(options)), bind_(std::move(bind)) {
    thread_ = std::thread([this] { run(); });
}

Session::~Session() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void Session::submit_landmarks(std::vector<float> xyz, std::string format) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = LandmarkPose{std::move(xyz), std::move(format)};
}

void Session::submit_blendshapes(const std::array<float, 52>& weights, std::optional<std::array<float, 3>> head) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = BlendshapePose{weights, head};
}

std::optional<ReceivedFrame> Session::take_frame() {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<ReceivedFrame> out = std::move(latest_);
    latest_.reset();
    return out;
}

std::optional<ReceivedFrame> Session::wait_frame(int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    frame_ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return latest_.has_value(); });
    std::optional<ReceivedFrame> out = std::move(latest_);
    latest_.reset();
    return out;
}

SessionCounters Session::counters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
}

std::optional<Bound> Session::binding() const {
    std::lock_guard<std::mutex> lock(mu_);
    return binding_;
}

std::int64_t Session::send(Client& c, const PendingPose& p) {
    if (const auto* l = std::get_if<LandmarkPose>(&p)) return c.send_landmarks(l->xyz, l->format);
    const auto& b = std::get<BlendshapePose>(p);
    return c.send_blendshapes(b.weights, b.head);
}

void Session::run() {
    using clock = std::chrono::steady_clock;
    Client client(options_);
    std::optional<PendingPose> last_sent;  // resent when no reply came within retry_ms
    std::int64_t awaiting = -1;            // seq of the newest pose sent that has no frame or error yet
    auto sent_at = clock::now();
    while (!stop_) {
        if (!client.binding()) {
            try {
                client.hello();
                Bound b = client.bind(bind_);
                std::lock_guard<std::mutex> lock(mu_);
                binding_ = b;
                counters_.bound = true;
                counters_.last_failure.clear();
            } catch (const std::exception& e) {  // daemon not up yet, or refused: try again
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    counters_.last_failure = e.what();
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a refusal returns at once
                continue;
            }
        }
        std::optional<PendingPose> next;
        {
            std::lock_guard<std::mutex> lock(mu_);
            next = std::move(pending_);
            pending_.reset();
        }
        const bool overdue = awaiting >= 0 && clock::now() - sent_at > std::chrono::milliseconds(options_.retry_ms);
        if (!next && overdue && last_sent) {
            next = last_sent;  // the daemon may have restarted and lost it
            std::lock_guard<std::mutex> lock(mu_);
            ++counters_.resends;
        }
        if (next) {
            const std::int64_t seq = send(client, *next);
            if (seq >= 0) {
                awaiting = seq;
                sent_at = clock::now();
                last_sent = std::move(next);
                std::lock_guard<std::mutex> lock(mu_);
                ++counters_.poses_sent;
            }
        }
        std::optional<Message> reply;
        try {
            reply = client.recv(5);
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(mu_);
            ++counters_.errors;
            counters_.last_failure = e.what();
            continue;
        }
        if (!reply) continue;
        if (auto* f = std::get_if<Frame>(&*reply)) {
            const std::int64_t seq = f->seq;
            try {
                ReceivedFrame rf = client.resolve(std::move(*f));
                std::lock_guard<std::mutex> lock(mu_);
                if (latest_) ++counters_.frames_skipped;
                counters_.superseded += rf.message.superseded;
                latest_ = std::move(rf);
                ++counters_.frames;
            } catch (const std::exception& e) {  // e.g. the ring slot was reused: a newer frame follows
                std::lock_guard<std::mutex> lock(mu_);
                counters_.last_failure = e.what();
            }
            if (seq >= awaiting) awaiting = -1;
            frame_ready_.notify_all();
        } else if (auto* e = std::get_if<Error>(&*reply)) {
            bool rebound = false;
            try {
                const int before = client.rebinds();
                rebound = client.handle_lost_session(*e);
                if (client.rebinds() != before) {
                    std::lock_guard<std::mutex> lock(mu_);
                    binding_ = client.binding();
                    ++counters_.rebinds;
                }
            } catch (const std::exception& ex) {
                std::lock_guard<std::mutex> lock(mu_);
                counters_.last_failure = ex.what();
            }
            if (rebound && last_sent) {
                std::lock_guard<std::mutex> lock(mu_);
                if (!pending_) pending_ = last_sent;  // the lost pose, unless a newer one waits
            } else if (!rebound) {
                std::lock_guard<std::mutex> lock(mu_);
                ++counters_.errors;
                counters_.last_error = *e;
                if (e->seq && *e->seq >= awaiting) awaiting = -1;
            }
        }
    }
}

}  // namespace facecast
