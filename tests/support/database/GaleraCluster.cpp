#include "GaleraCluster.h"

#include <sstream>
#include <stdexcept>
#include <thread>

#include "Ports.h"

namespace parley::testing {

namespace {

constexpr auto kJoinTimeout = std::chrono::seconds(120);

struct NodePorts {
    int gmcast;  // group communication between the nodes
    int ist;     // incremental state transfer, received by a rejoining node
    int sst;     // full state transfer (the joiner's rsync daemon)
};

std::string loopback(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

std::string clusterPassword() {
    std::ostringstream text;
    text << "galera" << std::chrono::steady_clock::now().time_since_epoch().count();
    return text.str();
}

}  // namespace

GaleraCluster::GaleraCluster(int nodes) : password_(clusterPassword()) {
    std::vector<NodePorts> ports;
    std::string addresses;
    for (int i = 0; i < nodes; ++i) {
        ports.push_back({freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()});
        addresses += (i == 0 ? "" : ",") + loopback(ports.back().gmcast);
    }
    for (int i = 0; i < nodes; ++i) {
        const NodePorts& own = ports[static_cast<size_t>(i)];
        MariaDbOptions options;
        options.folderPrefix = "parley-galera-" + std::to_string(i + 1);
        options.password = password_;
        options.createAccounts = i == 0;  // the others get them by state transfer
        options.systemUserWhenRoot = "mysql";
        options.startTimeout = kJoinTimeout;
        options.serverArgs = {
            "--wsrep-on=ON",
            "--wsrep-provider=/usr/lib/galera/libgalera_smm.so",
            "--wsrep-cluster-name=parley-test",
            "--wsrep-cluster-address=gcomm://" + addresses,
            "--wsrep-node-name=node" + std::to_string(i + 1),
            "--wsrep-node-address=" + loopback(own.gmcast),
            // gcache large enough that a node rejoining after a test's outage gets what it missed
            // incrementally (IST), from the gcache of a node that stayed.
            "--wsrep-provider-options=base_port=" + std::to_string(own.gmcast) +
                ";ist.recv_addr=" + loopback(own.ist) + ";gcache.size=32M",
            "--wsrep-sst-method=rsync",
            "--wsrep-sst-receive-address=" + loopback(own.sst),
            // What Galera requires of every node.
            "--binlog-format=ROW",
            "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2",
        };
        if (i == 0) {
            options.firstStartArgs = {"--wsrep-new-cluster"};
        }
        try {
            nodes_.push_back(std::make_unique<MariaDbServer>(std::move(options)));
        } catch (const std::exception& error) {
            throw std::runtime_error("GaleraCluster: node " + std::to_string(i + 1) +
                                     " did not start: " + error.what() + "\n" + logs());
        }
    }
    waitUntilSynced(nodes_.size(), kJoinTimeout);
}

GaleraCluster::~GaleraCluster() {
    // The last node to stop is the one that can bootstrap again; nothing here restarts it.
    for (auto node = nodes_.rbegin(); node != nodes_.rend(); ++node) {
        (*node)->stop();
    }
}

std::string GaleraCluster::createDatabase() {
    return node(0).createDatabase();
}

MysqlConfig GaleraCluster::clientConfig(const std::string& database, size_t first) const {
    MysqlConfig config = nodeConfig(database, first);
    for (size_t i = 0; i < nodes_.size(); ++i) {
        const size_t index = (first + i) % nodes_.size();
        config.hosts.push_back({"127.0.0.1", nodes_[index]->port()});
    }
    return config;
}

MysqlConfig GaleraCluster::nodeConfig(const std::string& database, size_t index) const {
    return mysqlConfigFor(*nodes_.at(index), database);
}

std::string GaleraCluster::status(size_t index, const std::string& variable) const {
    std::string line = nodes_.at(index)->queryAsRoot("SHOW GLOBAL STATUS LIKE '" + variable + "'");
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) {
        return "";
    }
    std::string value = line.substr(tab + 1);
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
        value.pop_back();
    }
    return value;
}

void GaleraCluster::waitUntilSynced(size_t size, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    for (;;) {
        bool synced = true;
        for (size_t i = 0; i < nodes_.size() && synced; ++i) {
            if (nodes_[i]->pid() < 0) {
                continue;  // stopped on purpose
            }
            try {
                const std::string state = status(i, "wsrep_local_state_comment");
                const std::string members = status(i, "wsrep_cluster_size");
                const std::string component = status(i, "wsrep_cluster_status");
                last = "node " + std::to_string(i + 1) + ": " + state + ", cluster of " + members +
                       ", " + component;
                synced =
                    state == "Synced" && members == std::to_string(size) && component == "Primary";
            } catch (const std::exception& error) {
                last = "node " + std::to_string(i + 1) + ": " + error.what();
                synced = false;
            }
        }
        if (synced) {
            return;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error(
                "GaleraCluster: not Synced in a cluster of " + std::to_string(size) + " after " +
                std::to_string(timeout.count()) + " s (" + last + ")\n" + logs());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

std::string GaleraCluster::logs() const {
    std::string text;
    for (size_t i = 0; i < nodes_.size(); ++i) {
        std::string log = nodes_[i]->log();
        if (log.size() > 8000) {
            log = log.substr(log.size() - 8000);
        }
        text += "--- galera node " + std::to_string(i + 1) + " ---\n" + log;
    }
    return text;
}

}  // namespace parley::testing
