// A Client on its own thread, for a game loop: the game submits poses and takes frames, and
// never waits on the network. Both directions are latest-wins: a pose submitted before the
// previous one was sent replaces it, and take_frame() returns only the newest frame (older
// ones are counted as skipped). The thread binds (again after a daemon restart), resends a
// pose that got no reply within retry_ms, and copies ring frames out of shared memory.
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "facecast/client.hpp"

namespace facecast {

struct SessionCounters {
    std::int64_t poses_sent = 0;
    std::int64_t frames = 0;          // frames received
    std::int64_t frames_skipped = 0;  // received but replaced by a newer one before take_frame()
    std::int64_t superseded = 0;      // poses the daemon dropped (sum of the frames' superseded)
    std::int64_t errors = 0;
    std::int64_t rebinds = 0;
    std::int64_t resends = 0;
    bool bound = false;
    std::optional<Error> last_error;
    std::string last_failure;         // why the thread could not (yet) bind, "" when bound
};

class Session {
public:
    Session(ClientOptions options, Bind bind);
    ~Session();  // stops the thread; the session ends with a bye
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void submit_landmarks(std::vector<float> xyz, std::string format = "mediapipe478");
    void submit_blendshapes(const std::array<float, 52>& weights, std::optional<std::array<float, 3>> head = std::nullopt);
    // The newest frame not taken yet.
    std::optional<ReceivedFrame> take_frame();
    // Waits up to timeout_ms for a frame (for tests and tools; a game loop polls take_frame).
    std::optional<ReceivedFrame> wait_frame(int timeout_ms);
    SessionCounters counters() const;
    std::optional<Bound> binding() const;

private:
    struct LandmarkPose { std::vector<float> xyz; std::string format; };
    struct BlendshapePose { std::array<float, 52> weights; std::optional<std::array<float, 3>> head; };
    using PendingPose = std::variant<LandmarkPose, BlendshapePose>;

    void run();
    std::int64_t send(Client& c, const PendingPose& p);

    ClientOptions options_;
    Bind bind_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::condition_variable frame_ready_;
    std::optional<PendingPose> pending_;
    std::optional<ReceivedFrame> latest_;
    std::optional<Bound> binding_;
    SessionCounters counters_;
    std::thread thread_;
};

}  // namespace facecast
